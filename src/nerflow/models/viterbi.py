"""Viterbi decoding of a linear-chain CRF: the best tag path under given scores.

Kept apart from the CRF head (as flair keeps its ``viterbi.py``): it knows nothing of
tagging schemes; forbidden moves are simply scored ``-inf`` by the caller
(:meth:`nerflow.models.crf.CRFHead.constrained_scores`).
"""

from __future__ import annotations

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
    lengths = mask.sum(dim=1)
    score = start[None, :] + emissions[:, 0]
    history = []
    for i in range(1, width):
        candidates = score[:, :, None] + transitions[None, :, :] + emissions[:, i, None, :]
        best_score, best_prev = candidates.max(dim=1)
        score = torch.where(mask[:, i, None], best_score, score)
        history.append(best_prev)
    score = score + end[None, :]
    current = score.argmax(dim=1)
    path = torch.zeros(batch, width, dtype=torch.long, device=emissions.device)
    for i in range(width - 1, 0, -1):
        inside = i < lengths
        path[:, i] = torch.where(inside, current, path[:, i])
        previous = history[i - 1].gather(1, current[:, None]).squeeze(1)
        current = torch.where(inside, previous, current)
    path[:, 0] = current
    return path.cpu()
