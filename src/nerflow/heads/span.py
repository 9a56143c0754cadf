"""The span head's torch-free half: its settings, its decoder (every span scoring above
0, merged over windows, flat or nested) and its spec. The head itself (GlobalPointer):
:mod:`nerflow.models.global_pointer`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nerflow.data.records import Span
from nerflow.data.spans import FLAT, NESTED, best_flat_spans
from nerflow.heads.decoder import Decoder
from nerflow.heads.spec import HeadSpec
from nerflow.section import setting
from nerflow.text.alignment import merge_scored_window_spans, scored_spans_from_token_spans
from nerflow.text.tokenization import TokenizedText


@dataclasses.dataclass(frozen=True)
class SpanSettings:
    """The span head's keys in an experiment block. ``span_decoding``: ``flat`` keeps the
    best non-overlapping spans, ``nested`` every span, ``auto`` flat when train is flat
    (:func:`nerflow.data.spans.resolve_span_decoding`)."""

    span_head_size: int = setting(
        64, minimum=2, multiple_of=2, description="query/key size per entity type of the span head"
    )
    span_decoding: Literal["auto", "flat", "nested"] = setting(
        "auto",
        description="span head: best non-overlapping spans (flat), all (nested), "
        "or flat when train is flat (auto)",
    )


class SpanDecoder(Decoder):
    """Every ``(first token, last token, type, score)`` scoring above 0 (scores ``[batch,
    n_types, seq, seq]``, masked cells far below 0); a text's spans merged over its windows
    (each kept from the window that owns its first character) and, decoding ``flat``, the
    best non-overlapping ones."""

    def __init__(self, labels: Sequence[str], scheme: str, decoding: str = NESTED) -> None:
        super().__init__(labels, scheme)
        self.set_decoding(decoding)

    @classmethod
    def from_folder(
        cls, folder: Path, labels: Sequence[str], scheme: str, settings: Mapping[str, Any]
    ) -> SpanDecoder:
        return cls(labels, scheme, settings.get("span_decoding") or NESTED)

    def set_decoding(self, decoding: str) -> None:
        if decoding not in (FLAT, NESTED):
            raise ValueError(f"span decoding must be {FLAT!r} or {NESTED!r}, not {decoding!r}")
        self.decoding = decoding
        self.flat = decoding == FLAT

    def decode(
        self, scores: np.ndarray, label_mask: np.ndarray
    ) -> list[list[tuple[int, int, str, float]]]:
        return [
            [(start, end, self.types[t], value) for start, end, t, value in row]
            for row in scored_cells(scores)
        ]

    def token_predictions(
        self, tok: TokenizedText, decoded: list[tuple[int, int, str, float]]
    ) -> list[tuple[int, int, str, float]]:
        return decoded

    def record_spans(
        self,
        n_chars: int,
        windows: Sequence[TokenizedText],
        predictions: Sequence[list[tuple[int, int, str, float]]],
        scheme: str,
    ) -> list[Span]:
        char_spans = [
            scored_spans_from_token_spans(tok, token_spans)
            for tok, token_spans in zip(windows, predictions, strict=True)
        ]
        merged = merge_scored_window_spans(n_chars, windows, char_spans)
        return best_flat_spans(merged) if self.flat else sorted(merged)


def scored_cells(
    scores: np.ndarray, threshold: float = 0.0
) -> list[list[tuple[int, int, int, float]]]:
    """Per sequence of ``scores [batch, n_types, seq, seq]``, every ``(start, end, type,
    score)`` scoring above ``threshold``, sorted."""
    found: list[list[tuple[int, int, int, float]]] = [[] for _ in range(scores.shape[0])]
    cells = np.argwhere(scores > threshold)
    values = scores[tuple(cells.T)].tolist()
    for (row, type_index, start, end), value in zip(cells.tolist(), values, strict=True):
        found[row].append((start, end, type_index, value))
    return [sorted(spans) for spans in found]


class SpanSpec(HeadSpec):
    name = "span"
    summary = "a GlobalPointer span head (nested spans)"
    Settings = SpanSettings
    decoder = SpanDecoder
    head_class = "nerflow.models.global_pointer:SpanHead"
