"""Moving positions along the sequence axis of ``[batch, seq, ...]`` tensors."""

from __future__ import annotations

import torch


def left_align(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices gathering the True positions of each row to the left, and the new mask.

    ``mask`` is ``[batch, seq]`` bool; returns ``index [batch, n]`` and ``mask [batch, n]``
    where ``n`` is the largest row count. Order within a row is preserved. While
    ``torch.export`` traces (``nerflow export``), ``n`` is ``seq``: a width read off the data
    cannot be a graph's shape, and the extra columns are masked padding.
    """
    lengths = mask.sum(dim=1)
    if torch.compiler.is_exporting():
        width = mask.size(1)
    else:
        width = int(lengths.max()) if mask.numel() else 0
    # Each position's place once the True ones come first (the stable sort of ~mask), by
    # counting: torch.export has no stable sort to give ONNX.
    before_true = mask.long().cumsum(dim=1) - 1
    before_false = lengths[:, None] + (~mask).long().cumsum(dim=1) - 1
    places = torch.where(mask, before_true, before_false)
    steps = torch.arange(mask.size(1), device=mask.device).expand_as(places)
    index = torch.empty_like(places).scatter(1, places, steps)[:, :width]
    new_mask = torch.arange(width, device=mask.device)[None, :] < lengths[:, None]
    return index, new_mask


def gather_positions(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x [batch, seq, d]`` at the positions ``index [batch, n]`` of each row:
    ``[batch, n, d]``."""
    return x.gather(1, index[:, :, None].expand(-1, -1, x.size(-1)))
