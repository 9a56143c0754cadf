"""Automatic mixed precision: the autocast dtype a device gets for an ``amp`` setting, how
summaries name it, and the autocast context (training, pretraining, evaluation)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from nerflow.config.choices import AMP_MODES


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``amp`` (one of :data:`~nerflow.config.choices.AMP_MODES`): only on
    CUDA;
    bf16 where supported."""
    if amp not in AMP_MODES:
        raise ValueError(f"unknown amp setting {amp!r}; expected one of {AMP_MODES}")
    if amp == "off" or device.type != "cuda":
        return None
    if amp in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def amp_name(dtype: torch.dtype | None) -> str:
    """How summaries name an autocast dtype: ``bfloat16``, ``float16`` or ``off``."""
    return str(dtype).replace("torch.", "") if dtype is not None else "off"


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    """Autocast to ``dtype`` on ``device``; no context for ``None``."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
