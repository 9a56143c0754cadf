"""Gold spans through the prediction chain: the round-trip audit and the oracle run.

The chain is the one predictions take (:mod:`nerflow.inference.predict`): the text is cut into
sliding windows of ``max_len`` tokens sharing ``stride`` tokens
(:func:`nerflow.text.tokenization.windows`), each window's gold token labels (clipped at its
edges) become character tags, the windows are merged by owner
(:func:`nerflow.text.alignment.merge_window_tags`) and decoded. With ``truncate`` the text is
cut at ``max_len`` tokens instead (what a pipeline without windows does), and spans past
the cut are lost as ``"truncated"``.

Round-trip audit, per record: gold spans -> (overlaps removed) character tags -> the
chain -> restored character spans, compared with the gold spans. Nested spans cannot be
tagged flat: of an overlapping pair the later one (or, starting together, the shorter
one) is dropped before tagging and counted as ``"nested"`` (see
:func:`nerflow.data.spans.remove_overlaps`). Every other lost span gets the reason given by
:func:`nerflow.text.alignment.token_labels_from_spans`; a lost span without such a reason is
counted as ``"other"``, which is a bug (it must be 0, in particular in char mode).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from nerflow.data.records import Record, Span
from nerflow.data.spans import remove_overlaps
from nerflow.text.alignment import (
    char_tags_from_token_labels,
    lost_in_every_window,
    merge_window_tags,
    token_labels_from_spans,
)
from nerflow.text.lost import LOST_REASONS, NESTED
from nerflow.text.tagging import check_scheme, spans_to_tags, tags_to_spans
from nerflow.text.tokenization import Tokenization, windows


def restore_through_chain(
    text: str,
    spans: Sequence[Span],
    tokenizer: Any,
    mode: Tokenization,
    max_len: int | None,
    stride: int,
    scheme: str,
    truncate: bool = False,
) -> tuple[list[Span], dict[Span, str]]:
    """Gold ``spans`` -> token labels per window -> merged character tags -> spans.

    Returns the restored spans (sorted) and, for spans a window could not carry, their
    reason (a reason other than ``"truncated"`` wins: a span cut by one window's edge is
    usually whole in its neighbour).
    """
    toks = windows(text, tokenizer, mode, max_len, stride, truncate=truncate)
    lost_per_window = []
    window_tags = []
    for tok in toks:
        labels, lost = token_labels_from_spans(tok, spans, scheme, clip=not truncate)
        lost_per_window.append(lost)
        window_tags.append(char_tags_from_token_labels(tok, labels, scheme))
    merged = merge_window_tags(len(text), toks, window_tags)
    return sorted(tags_to_spans(merged, scheme)), lost_in_every_window(lost_per_window)


def oracle_predictions(
    records: Iterable[Record],
    tokenizer: Any,
    mode: Tokenization,
    max_len: int,
    stride: int,
    scheme: str,
    truncate: bool = False,
) -> Iterator[Record]:
    """The oracle run: each record's gold spans restored through the chain, as a prediction
    (its scores are the ceiling of that tokenisation)."""
    for record in records:
        kept, _nested = remove_overlaps(record.spans)
        spans, _ = restore_through_chain(
            record.text, kept, tokenizer, mode, max_len, stride, scheme, truncate
        )
        yield Record(id=record.id, text=record.text, spans=spans)


def roundtrip_report(
    records: Iterable[Record],
    tokenizer: Any,
    mode: Tokenization,
    max_len: int | None,
    scheme: str,
    max_examples: int = 20,
    stride: int = 32,
    truncate: bool = False,
) -> dict:
    """Audit the gold -> tags -> tokens -> restored spans round trip over ``records``.

    Returns ``{"mode", "scheme", "max_len", "stride", "truncate", "records", "spans_total",
    "restored_exactly",
    "lost", "lost_by_reason": {reason: count} (reasons: nested, inside_word_piece,
    truncated, dropped_chars, other), "representable", "restored_representable_ratio",
    "spurious", "examples"}``; ``representable`` is ``spans_total`` minus the spans lost
    for a known reason, ``spurious`` counts restored spans that are not gold (must be 0),
    and ``examples`` lists up to ``max_examples`` lost spans with id, text, surface, label,
    start, end (inclusive) and reason.
    """
    check_scheme(scheme)
    by_reason = dict.fromkeys((*LOST_REASONS, "other"), 0)
    examples: list[dict] = []
    n_records = spans_total = restored_exactly = spurious = 0
    for record in records:
        n_records += 1
        gold = sorted(set(record.spans))
        spans_total += len(gold)
        kept, nested = remove_overlaps(gold)
        char_tags = spans_to_tags(len(record.text), kept, scheme)
        restored_list, lost = restore_through_chain(
            record.text,
            tags_to_spans(char_tags, scheme),
            tokenizer,
            mode,
            max_len,
            stride,
            scheme,
            truncate,
        )
        reasons = {span: NESTED for span in nested} | lost
        restored = set(restored_list)
        restored_exactly += len(restored & set(gold))
        spurious += len(restored - set(gold))
        for span in gold:
            if span not in restored:
                reason = reasons.get(span, "other")
                by_reason[reason] += 1
                if len(examples) < max_examples:
                    examples.append(_example(record, span, reason))
    lost_total = spans_total - restored_exactly
    representable = spans_total - sum(by_reason[r] for r in LOST_REASONS)
    return {
        "mode": mode,
        "scheme": scheme,
        "max_len": max_len,
        "stride": None if truncate else stride,
        "truncate": truncate,
        "records": n_records,
        "spans_total": spans_total,
        "restored_exactly": restored_exactly,
        "lost": lost_total,
        "lost_by_reason": by_reason,
        "representable": representable,
        "restored_representable_ratio": (
            restored_exactly / representable if representable else 1.0
        ),
        "spurious": spurious,
        "examples": examples,
    }


def _example(record: Record, span: Span, reason: str) -> dict[str, Any]:
    """A lost gold span as the audit lists it."""
    return {
        "id": record.id,
        "text": record.text,
        "surface": span.surface(record.text),
        "label": span.label,
        "start": span.start,
        "end": span.end,
        "reason": reason,
    }
