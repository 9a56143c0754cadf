"""Experiment configuration: the settings of every stage and their defaults, in one place.

Light on purpose (no torch import): the Snakefile reads it at parse time."""

from __future__ import annotations

SCRATCH_ENCODERS = ("scratch", "bilstm")
"""Encoders trained from random initialisation, with a character vocabulary of train."""


def from_scratch(encoder: str) -> bool:
    """True for encoders without pretrained weights (see :data:`SCRATCH_ENCODERS`)."""
    return encoder in SCRATCH_ENCODERS
