"""Span head (GlobalPointer, Su et al. 2022): every (start, end, type) scored at once.

The emitter's output layer gives, per token and entity type, a query and a key of
``head_size`` dimensions (``2 * n_types * head_size`` outputs). Rotary position
embeddings (RoPE) make their dot product depend on the relative distance, and the score
of span ``[i, j]`` of type ``t`` is ``<q_t(i), k_t(j)> / sqrt(head_size)``. A span is
predicted when its score is positive, so overlapping and nested spans of any types come
out as they are (flat tags cannot carry them): the ``nested`` decoding. The ``flat``
decoding keeps, per text (after its windows are merged), the non-overlapping subset of
those spans with the highest total score (:func:`nerflow.data.spans.best_flat_spans`); which
one a head uses is its :attr:`SpanHead.decoding`, saved with the model.

Only labelled positions (``labels != -100``: no specials, no padding, no continuation
pieces) may start or end a span, and ``end >= start``; all other cells are masked. The
loss is the multi-label categorical cross-entropy (Su 2020) per (sequence, type), which
pushes every gold span above 0 and every other cell below 0 without a class-balancing
weight.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from nerflow.data.spans import FLAT, NESTED, resolve_span_decoding
from nerflow.heads.span import SpanSettings, SpanSpec
from nerflow.models.head import GoldSpans, Head
from nerflow.text.tagging import label_types

MASKED = -1e12
"""Score of cells that can never be a span (finite, so the loss stays NaN-free)."""


def rotary(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of ``x [batch, seq, heads, dim]`` (``dim`` even)."""
    _, width, _, dim = x.shape
    if dim % 2:
        raise ValueError(f"rotary embeddings need an even head size, got {dim}")
    position = torch.arange(width, device=x.device, dtype=torch.float32)
    inverse = 10000.0 ** (-torch.arange(0, dim, 2, device=x.device, dtype=torch.float32) / dim)
    angles = position[:, None] * inverse[None, :]  # [seq, dim/2]
    cos = angles.cos().repeat_interleave(2, dim=-1)
    sin = angles.sin().repeat_interleave(2, dim=-1)
    # each pair (x0, x1) -> (-x1, x0): one gather, with the sign folded into the sines
    # (two strided slices and a stack cost an exported graph several times as much)
    pairs = torch.arange(dim, device=x.device) ^ 1
    signed_sin = sin * torch.tensor([-1.0, 1.0], device=x.device).repeat(dim // 2)
    return x * cos[None, :, None, :].to(x.dtype) + x.index_select(-1, pairs) * signed_sin[
        None, :, None, :
    ].to(x.dtype)


def span_scores(
    outputs: torch.Tensor, n_types: int, head_size: int, valid: torch.Tensor
) -> torch.Tensor:
    """Emitter outputs ``[batch, seq, 2 * n_types * head_size]`` -> span scores ``[batch,
    n_types, seq, seq]`` (float32), :data:`MASKED` where ``valid`` (``[batch, seq]`` bool)
    is false at the start or the end, and below the diagonal."""
    batch, width, size = outputs.shape
    if size != 2 * n_types * head_size:
        raise ValueError(f"span head expects {2 * n_types * head_size} outputs, got {size}")
    # queries and keys rotated in one call: [batch, seq, n_types * 2, head_size]
    qk = rotary(outputs.float().reshape(batch, width, n_types * 2, head_size))
    query = qk[:, :, 0::2].transpose(1, 2)  # [batch, n_types, seq, head_size]
    key = qk[:, :, 1::2].permute(0, 2, 3, 1)  # [batch, n_types, head_size, seq]
    scores = torch.matmul(query, key) / head_size**0.5
    valid = valid.to(torch.bool)
    cells = valid[:, None, :, None] & valid[:, None, None, :]
    upper = torch.ones(width, width, dtype=torch.bool, device=outputs.device).triu()
    return scores.masked_fill(~(cells & upper), MASKED)


def span_targets(
    gold: Sequence[torch.Tensor], n_types: int, width: int, device: torch.device | None = None
) -> torch.Tensor:
    """Gold ``(first token, last token, type)`` rows per sequence -> ``[batch, n_types,
    width, width]`` 0/1 float targets."""
    targets = torch.zeros((len(gold), n_types, width, width), device=device)
    for row, spans in enumerate(gold):
        if len(spans):
            spans = spans.to(device=targets.device, dtype=torch.long)
            targets[row, spans[:, 2], spans[:, 0], spans[:, 1]] = 1.0
    return targets


def multilabel_crossentropy(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over ``[batch, n_types]`` of ``log(1 + sum_neg e^s) + log(1 + sum_pos e^-s)``."""
    flat_scores = scores.reshape(scores.size(0) * scores.size(1), -1)
    flat_targets = targets.reshape_as(flat_scores)
    signed = (1.0 - 2.0 * flat_targets) * flat_scores
    negatives = signed - flat_targets * 1e12
    positives = signed - (1.0 - flat_targets) * 1e12
    zeros = torch.zeros_like(signed[:, :1])
    loss = torch.logsumexp(torch.cat([negatives, zeros], dim=-1), dim=-1) + torch.logsumexp(
        torch.cat([positives, zeros], dim=-1), dim=-1
    )
    return loss.mean()


class SpanHead(Head):
    """GlobalPointer over the entity types of the labels; ``size``: ``span_head_size``.

    Its scores are ``[batch, n_types, seq, seq]``; it decodes, per sequence,
    ``(first token, last token, type, score)`` of every span with a positive score whose
    both ends are labelled (spans may overlap). The tagging scheme plays no part.
    :attr:`decoding` (``nested``, the default, or ``flat``) says whether a text's merged
    spans may overlap (see the module docstring).
    """

    spec = SpanSpec
    needs_spans: ClassVar[bool] = True
    plain_load: ClassVar[tuple[str, str]] = (
        "nerflow",
        "the span head's query/key projections (outputs named `TYPE:q0`, `TYPE:k0`, ...), "
        "not tags: the token-classification pipeline's output is meaningless. Use "
        "`nerflow predict`.",
    )

    def __init__(self, labels: Sequence[str], scheme: str, size: int, policy: str = NESTED):
        super().__init__(labels, scheme)
        self.size = int(size)
        self.policy = policy
        """The experiment's ``span_decoding``: ``auto`` is settled by :meth:`fit_to_train`."""
        self.set_decoding(policy if policy in (FLAT, NESTED) else NESTED)

    @property
    def decoding(self) -> str:
        return self.decoder.decoding

    @property
    def flat(self) -> bool:
        return self.decoder.flat

    def set_decoding(self, policy: str) -> None:
        self.decoder.set_decoding(policy)

    @classmethod
    def create(cls, labels: Sequence[str], scheme: str, settings: Mapping[str, Any]) -> SpanHead:
        """``span_head_size`` and ``span_decoding`` from the experiment (or a folder saved
        before the latter existed: ``nested``, as it decoded then)."""
        return cls(labels, scheme, _size(settings), settings.get("span_decoding") or NESTED)

    @classmethod
    def from_saved(
        cls, labels: Sequence[str], scheme: str, settings: Mapping[str, Any]
    ) -> SpanHead:
        decoding = settings.get("span_decoding") or NESTED
        if decoding not in (FLAT, NESTED):
            raise ValueError(f"span_decoding {decoding!r} is not {FLAT} or {NESTED}")
        return cls.create(labels, scheme, settings)

    @classmethod
    def output_names(cls, labels: Sequence[str], settings: Mapping[str, Any]) -> list[str]:
        """The ``q``/``k`` components of every entity type, e.g. ``name:q0``."""
        return [
            f"{entity_type}:{part}{d}"
            for entity_type in label_types(labels)
            for part in ("q", "k")
            for d in range(_size(settings))
        ]

    @property
    def outputs(self) -> list[str]:
        return self.output_names(self.labels, {"span_head_size": self.size})

    def settings(self) -> dict[str, Any]:
        return {"span_head_size": self.size, "span_decoding": self.decoding}

    def fit_to_train(self, train_nesting: Mapping[str, int]) -> list[str]:
        """Resolve ``span_decoding`` from the nesting of train (``auto``: flat when train is
        flat, :func:`nerflow.data.spans.resolve_span_decoding`)."""
        self.set_decoding(resolve_span_decoding(self.policy, train_nesting))
        pairs, spans = train_nesting["overlapping_pairs"], train_nesting["spans"]
        return [
            f"span decoding {self.decoding} (span_decoding {self.policy}; train: {pairs} "
            f"overlapping pairs in {spans} gold spans)"
        ]

    def scores(self, outputs: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
        return span_scores(outputs, len(self.types), self.size, labelled)

    def loss(self, scores: Tensor, labels: Tensor, spans: GoldSpans = None) -> Tensor:
        if spans is None:
            raise ValueError("the span head needs the gold spans to compute a loss")
        targets = span_targets(spans, len(self.types), scores.size(-1), scores.device)
        return multilabel_crossentropy(scores, targets)


def _size(settings: Mapping[str, Any]) -> int:
    """``span_head_size`` of a head's settings (its default when unset)."""
    return int(settings.get("span_head_size") or SpanSettings.span_head_size)
