"""Tensor plumbing shared by training, pretraining and prediction: device choice, CPU
threads, the ignored-label value and right-padding of ragged rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized

import numpy as np
import torch

from nerflow.errors import UserError

IGNORE_INDEX = -100
"""Label of positions without a target (special tokens, padding, word-piece continuations,
unmasked MLM tokens): ``torch.nn.functional.cross_entropy``'s default ``ignore_index``."""


class DeviceError(UserError, ValueError):
    """A device that this machine does not have, or no device at all."""


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA when available, else CPU; otherwise ``torch.device(spec)``
    (:class:`DeviceError` for an unknown name, or CUDA on a machine without it)."""
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise DeviceError(f"unknown device {spec!r}; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"device {spec!r} requested but CUDA is not available here; use auto or cpu"
        )
    return device


def use_cpu_threads(threads: int) -> None:
    """Compute on ``threads`` CPU threads with denormal floats flushed to zero.

    Adam's first moment of the embedding rows a batch misses decays by beta1 every step
    into the denormal range, where CPU arithmetic is many times slower: without the flush,
    training steps slow down as training goes on (``bench/denormals.py``). The mode is per
    thread and worker threads keep the one they started with, so call this before the
    process's first parallel tensor operation.
    """
    torch.set_flush_denormal(True)
    torch.set_num_threads(max(1, int(threads)))


def pad(
    rows: Sequence[Sequence[int] | torch.Tensor], value: int | float, width: int | None = None
) -> torch.Tensor:
    """Right-pad ``rows`` (int lists, or tensors ``[n, ...]``) with ``value`` to
    ``[len(rows), width, ...]`` (``width`` defaults to the longest row)."""
    if rows and not any(isinstance(row, torch.Tensor) for row in rows):
        # int lists: one tensor from one padded nested list (a tensor per row costs more)
        size = max(len(row) for row in rows) if width is None else width
        if any(len(row) > size for row in rows):
            raise ValueError(f"a row is longer than the width {size}")
        return torch.tensor(
            [[*row, *[value] * (size - len(row))] for row in rows], dtype=torch.long
        )
    tensors = [
        row if isinstance(row, torch.Tensor) else torch.as_tensor(list(row), dtype=torch.long)
        for row in rows
    ]
    if width is None:
        width = max((len(t) for t in tensors), default=0)
    first = tensors[0] if tensors else torch.zeros(0, dtype=torch.long)
    out = torch.full((len(tensors), width, *first.shape[1:]), value, dtype=first.dtype)
    for i, tensor in enumerate(tensors):
        out[i, : len(tensor)] = tensor
    return out


def padding_mask(rows: Sequence[Sized], width: int | None = None) -> torch.Tensor:
    """``[len(rows), width]`` long mask: 1 on the positions ``rows`` fill, 0 on padding."""
    lengths = torch.as_tensor([len(row) for row in rows], dtype=torch.long)
    if width is None:
        width = int(lengths.max()) if len(lengths) else 0
    return (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()


def as_tensors(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Numpy arrays (input features, :mod:`nerflow.features`) as tensors sharing memory."""
    return {name: torch.from_numpy(array) for name, array in arrays.items()}


def peak_gpu_mib(device: torch.device) -> float | None:
    """Peak memory allocated by torch on a CUDA ``device`` so far, in MiB (None elsewhere)."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
