"""The safetensors files that hold a model part's weights in a model folder."""

from __future__ import annotations

from pathlib import Path

import torch

from nerflow.atomic import normal_mode


def save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """Write ``state`` to ``path`` as float32 CPU tensors."""
    from safetensors.torch import save_file

    save_file({k: v.detach().float().cpu().contiguous() for k, v in state.items()}, str(path))
    normal_mode(path)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a file written by :func:`save_weights`."""
    from safetensors.torch import load_file

    return load_file(str(path))
