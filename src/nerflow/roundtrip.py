"""Round-trip audit: how many gold spans survive tagging, tokenisation and restore.

For each record: gold spans -> (overlaps removed) character tags -> token labels ->
restored character spans, compared with the gold spans. Nested spans cannot be tagged
flat: of an overlapping pair the later one (or, starting together, the shorter one) is
dropped before tagging and counted as ``"nested"`` (see
:func:`nerflow.tagging.remove_overlaps`). Every other lost span gets the reason given by
:func:`nerflow.alignment.token_labels_from_spans`; a lost span without such a reason is
counted as ``"other"``, which is a bug (it must be 0, in particular in char mode).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nerflow.alignment import REASONS, Mode, restore_spans, token_labels_from_spans, tokenize
from nerflow.records import Record
from nerflow.tagging import check_scheme, remove_overlaps, spans_to_tags, tags_to_spans


def roundtrip_report(
    records: Iterable[Record],
    tokenizer: Any,
    mode: Mode,
    max_len: int | None,
    scheme: str,
    max_examples: int = 20,
) -> dict:
    """Audit the gold -> tags -> tokens -> restored spans round trip over ``records``.

    Returns ``{"mode", "scheme", "max_len", "records", "spans_total", "restored_exactly",
    "lost", "lost_by_reason": {reason: count} (reasons: nested, inside_word_piece,
    truncated, dropped_chars, other), "representable", "restored_representable_ratio",
    "spurious", "examples"}``; ``representable`` is ``spans_total`` minus the spans lost
    for a known reason, ``spurious`` counts restored spans that are not gold (must be 0),
    and ``examples`` lists up to ``max_examples`` lost spans with id, text, surface, label,
    start, end (inclusive) and reason.
    """
    check_scheme(scheme)
    by_reason = dict.fromkeys((*REASONS, "other"), 0)
    examples: list[dict] = []
    n_records = spans_total = restored_exactly = spurious = 0
    for record in records:
        n_records += 1
        gold = sorted(set(record.spans))
        spans_total += len(gold)
        kept, nested = remove_overlaps(gold)
        char_tags = spans_to_tags(len(record.text), kept, scheme)
        tok = tokenize(record.text, tokenizer, mode, max_len)
        labels, lost = token_labels_from_spans(tok, tags_to_spans(char_tags, scheme), scheme)
        reasons = {span: "nested" for span in nested} | dict(lost)
        restored = set(restore_spans(tok, labels, scheme))
        restored_exactly += len(restored & set(gold))
        spurious += len(restored - set(gold))
        for span in gold:
            if span in restored:
                continue
            reason = reasons.get(span, "other")
            by_reason[reason] += 1
            if len(examples) < max_examples:
                examples.append(
                    {
                        "id": record.id,
                        "text": record.text,
                        "surface": span.surface(record.text),
                        "label": span.label,
                        "start": span.start,
                        "end": span.end,
                        "reason": reason,
                    }
                )
    lost_total = spans_total - restored_exactly
    representable = spans_total - sum(by_reason[r] for r in REASONS)
    return {
        "mode": mode,
        "scheme": scheme,
        "max_len": max_len,
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
