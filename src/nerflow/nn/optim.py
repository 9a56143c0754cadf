"""AdamW parameter groups shared by tagger training and MLM pretraining."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn


def no_decay(name: str, param: nn.Parameter) -> bool:
    """Biases, norms and other one-dimensional parameters (CRF start/end scores included)
    are not weight-decayed."""
    lowered = name.lower()
    return param.ndim < 2 or "bias" in lowered or "layernorm" in lowered or "layer_norm" in lowered


def decay_groups(
    named: Iterable[tuple[str, nn.Parameter]], lr: float, weight_decay: float, name: str
) -> list[dict[str, Any]]:
    """``named`` split into a decayed group ``name`` and an undecayed ``name + "_no_decay"``
    (empty groups left out), both at learning rate ``lr``."""
    named = [(n, p) for n, p in named if p.requires_grad]
    decay = [p for n, p in named if not no_decay(n, p)]
    plain = [p for n, p in named if no_decay(n, p)]
    return [
        {"params": params, "lr": lr, "weight_decay": wd, "name": name + suffix}
        for params, wd, suffix in ((decay, weight_decay, ""), (plain, 0.0, "_no_decay"))
        if params
    ]
