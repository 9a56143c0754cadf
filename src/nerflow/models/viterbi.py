"""Viterbi decoding of a linear-chain CRF: the best tag path under given scores.

Kept apart from the CRF head (as flair keeps its ``viterbi.py``): it knows nothing of
tagging schemes; forbidden moves are simply scored ``-inf`` by the caller
(:meth:`nerflow.models.crf.CRFHead.constrained_scores`).
"""

from __future__ import annotations

import numpy as np
import torch


def viterbi(
    emissions: torch.Tensor,
    mask: torch.Tensor,
    start: torch.Tensor,
    transitions: torch.Tensor,
    end: torch.Tensor,
) -> torch.Tensor:
    """Best paths ``[batch, n]`` on the CPU (rows padded past their length).

    ``emissions [batch, n, C]`` and ``mask [batch, n]`` are left-aligned (each row's
    ``True`` positions first); ``start [C]``, ``transitions [C, C]`` (from, to) and
    ``end [C]`` are the scores of starting, moving and ending.
    """
    batch, width, _ = emissions.shape
    score = start[None, :] + emissions[:, 0]
    history = []
    moves = transitions[None, :, :]
    for i in range(1, width):
        # The emission of the tag moved to is the same for every tag moved from: added
        # after the max, on [batch, C] instead of [batch, C, C].
        best_score, best_prev = (score[:, :, None] + moves).max(dim=1)
        score = torch.where(mask[:, i, None], best_score + emissions[:, i], score)
        history.append(best_prev)
    current = (score + end[None, :]).argmax(dim=1).cpu().numpy()
    # Backtracking is a chain of small lookups: numpy's per-call cost is a tenth of torch's.
    lengths = mask.sum(dim=1).cpu().numpy()
    path = np.zeros((batch, width), dtype=np.int64)
    if width > 1:
        back = torch.stack(history).cpu().numpy()  # [width - 1, batch, C]
        rows = np.arange(batch)
        for i in range(width - 1, 0, -1):
            inside = i < lengths
            path[:, i] = np.where(inside, current, 0)
            current = np.where(inside, back[i - 1, rows, current], current)
    path[:, 0] = current
    return torch.from_numpy(path)
