"""Viterbi decoding of a linear-chain CRF: the best tag path under given scores.

Kept apart from the CRF head (as flair keeps its ``viterbi.py``): it knows nothing of
tagging schemes; forbidden moves are simply scored ``-inf`` by the caller
(:meth:`nerflow.models.crf.CRFHead.constrained_scores`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def viterbi(
    emissions: ArrayLike,
    mask: ArrayLike,
    start: ArrayLike,
    transitions: ArrayLike,
    end: ArrayLike,
) -> np.ndarray:
    """Best paths ``[batch, n]`` (rows padded with 0 past their length), in numpy: the
    PyTorch heads and the onnxruntime path decode with the same code.

    ``emissions [batch, n, C]`` and ``mask [batch, n]`` are left-aligned (each row's
    ``True`` positions first); ``start [C]``, ``transitions [C, C]`` (from, to) and
    ``end [C]`` are the scores of starting, moving and ending.
    """
    emissions = np.asarray(emissions, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    batch, width, _ = emissions.shape
    score = np.asarray(start, dtype=np.float32)[None, :] + emissions[:, 0]
    history = []
    moves = np.asarray(transitions, dtype=np.float32)[None, :, :]
    for i in range(1, width):
        # The emission of the tag moved to is the same for every tag moved from: added
        # after the max, on [batch, C] instead of [batch, C, C].
        candidates = score[:, :, None] + moves
        best_prev = candidates.argmax(axis=1)
        best_score = np.take_along_axis(candidates, best_prev[:, None, :], axis=1)[:, 0]
        score = np.where(mask[:, i, None], best_score + emissions[:, i], score)
        history.append(best_prev)
    current = (score + np.asarray(end, dtype=np.float32)[None, :]).argmax(axis=1)
    lengths = mask.sum(axis=1)
    path = np.zeros((batch, width), dtype=np.int64)
    if width > 1:
        back = np.stack(history)  # [width - 1, batch, C]
        rows = np.arange(batch)
        for i in range(width - 1, 0, -1):
            inside = i < lengths
            path[:, i] = np.where(inside, current, 0)
            current = np.where(inside, back[i - 1, rows, current], current)
    path[:, 0] = current
    return path
