"""Adversarial training on the input embeddings: FGM (Miyato, Dai & Goodfellow 2017).

After the clean loss's backward pass, every embedding table the loss reached is moved by
``epsilon * g / ||g||`` (``g``: its gradient, the direction that raises the loss fastest);
the loss of the same batch under that perturbation is back-propagated too, so the step
follows the sum of both gradients, and the tables are then restored bit for bit. A step
costs about two forward and backward passes.

The tables perturbed are the model's trainable token embeddings (characters, bigrams,
lexicon words, LAC tags; a transformer's word embeddings), not its position or token-type
embeddings: :func:`input_embeddings`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn

NOT_TOKENS = ("position", "token_type")
"""Embedding tables whose module name holds one of these are not perturbed."""


def input_embeddings(model: nn.Module) -> list[nn.Parameter]:
    """The weights of ``model``'s trainable token-embedding tables (module docstring)."""
    return [
        module.weight
        for name, module in model.named_modules()
        if isinstance(module, nn.Embedding)
        and module.weight.requires_grad
        and not any(part in name for part in NOT_TOKENS)
    ]


@contextlib.contextmanager
def fgm_perturbation(weights: Sequence[nn.Parameter], epsilon: float) -> Iterator[int]:
    """Inside the block, each of ``weights`` with a finite non-zero gradient ``g`` is moved
    by ``epsilon * g / ||g||``; on leaving (an error included) they get their values back
    exactly. Yields how many tables were moved."""
    saved: list[tuple[nn.Parameter, torch.Tensor]] = []
    with torch.no_grad():
        for weight in weights:
            grad = weight.grad
            if grad is None:
                continue
            norm = float(torch.linalg.vector_norm(grad.float()))
            if norm == 0.0 or not math.isfinite(norm):
                continue
            saved.append((weight, weight.detach().clone()))
            weight.add_(grad.to(weight.dtype), alpha=float(epsilon) / norm)
    try:
        yield len(saved)
    finally:
        with torch.no_grad():
            for weight, original in saved:
                weight.copy_(original)
