"""Bit sets packed in int64 tensors, unpacked to multi-hot floats."""

from __future__ import annotations

import torch


def unpack_bits(bits: torch.Tensor, n_bits: int) -> torch.Tensor:
    """``int64 [...]`` non-negative bit sets (``n_bits`` <= 63) -> float ``[..., n_bits]``.

    A bitwise and with each power of two rather than shifts (ONNX shifts only unsigned
    integers) or a floor division (exported through floats, which cannot hold 62 bits):
    an exported model (``nerflow export``) unpacks exactly as PyTorch does."""
    powers = torch.tensor([1 << i for i in range(n_bits)], dtype=bits.dtype, device=bits.device)
    return ((bits[..., None] & powers) != 0).float()
