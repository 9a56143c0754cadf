"""Bidirectional recurrent layers over right-padded batches, one ``batch_first`` RNN per
direction (the BiLSTM emitter's LSTMs, LAC's GRUs)."""

from __future__ import annotations

import torch
from torch import nn

from nerflow.nn.positions import gather_positions


def reverse_index(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``[batch, width]`` time indices reversing each row's first ``lengths`` positions.

    Padding (right of the length) stays in place, so running an RNN over the reversed
    rows reads every sequence backwards from its true end (an exact bidirectional RNN on
    right-padded batches, about twice as fast on CPU as packed sequences).
    """
    steps = torch.arange(width, device=lengths.device)[None, :]
    ends = lengths[:, None].to(steps.dtype)
    return torch.where(steps < ends, ends - 1 - steps, steps)


def bidirectional(
    x: torch.Tensor, lengths: torch.Tensor, forward_rnn: nn.Module, backward_rnn: nn.Module
) -> torch.Tensor:
    """One bidirectional layer over right-padded ``x [batch, seq, d]``: the two
    directions' outputs concatenated; padding never reaches a real position's state."""
    reverse = reverse_index(lengths, x.size(1))
    ahead, _ = forward_rnn(x)
    behind, _ = backward_rnn(gather_positions(x, reverse))
    return torch.cat([ahead, gather_positions(behind, reverse)], dim=-1)
