"""The named choices of settings that several blocks and stages share."""

from __future__ import annotations

from typing import Literal, get_args

Device = Literal["auto", "cpu", "cuda"]
Amp = Literal["auto", "bf16", "fp16", "off"]

DEVICES: tuple[str, ...] = get_args(Device)
AMP_MODES: tuple[str, ...] = get_args(Amp)

SCRATCH_ENCODERS = ("scratch", "bilstm")
"""Encoders trained from random initialisation, with a character vocabulary of train."""


def from_scratch(encoder: str) -> bool:
    """True for encoders without pretrained weights (see :data:`SCRATCH_ENCODERS`)."""
    return encoder in SCRATCH_ENCODERS
