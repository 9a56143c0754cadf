"""Moving positions along the sequence axis of ``[batch, seq, ...]`` tensors."""

from __future__ import annotations

import torch


def left_align(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices gathering the True positions of each row to the left, and the new mask.

    ``mask`` is ``[batch, seq]`` bool; returns ``index [batch, n]`` and ``mask [batch, n]``
    where ``n`` is the largest row count. Order within a row is preserved.
    """
    lengths = mask.sum(dim=1)
    width = int(lengths.max()) if mask.numel() else 0
    index = torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)[:, :width]
    new_mask = torch.arange(width, device=mask.device)[None, :] < lengths[:, None]
    return index, new_mask


def gather_positions(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x [batch, seq, d]`` at the positions ``index [batch, n]`` of each row:
    ``[batch, n, d]``."""
    return x.gather(1, index[:, :, None].expand(-1, -1, x.size(-1)))
