"""Length-bucketed batches shared by fine-tuning and masked-LM pretraining."""

from __future__ import annotations

import random
from collections.abc import Sequence

CHUNK_BATCHES = 50
"""Batches per sorting chunk: large enough to group similar lengths, small enough to mix."""


def make_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Length-bucketed batches of indices for one epoch, deterministic in ``(seed, epoch)``.

    Indices are shuffled, sorted by length inside chunks of ``CHUNK_BATCHES`` batches, cut
    into batches, and the batches shuffled.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * CHUNK_BATCHES
    batches: list[list[int]] = []
    for begin in range(0, len(order), chunk):
        part = sorted(order[begin : begin + chunk], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches
