"""The error analysis: every unmatched prediction and every unmatched gold span put in
exactly one category (:func:`error_rows`), their counts, and the type confusion matrix."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from nerflow.data.records import Record, Span
from nerflow.evaluation.pairs import align, overlap, prediction_text, scored_types

ERROR_CATEGORIES: tuple[str, ...] = (
    "type_error",
    "boundary_error",
    "boundary_type_error",
    "spurious",
    "missed",
)
"""Error categories; the first four are unmatched predictions, ``missed`` unmatched gold."""

ERROR_COLUMNS: tuple[str, ...] = (
    "id",
    "category",
    "gold_type",
    "gold_start",
    "gold_end",
    "gold_text",
    "pred_type",
    "pred_start",
    "pred_end",
    "pred_text",
)
"""Column order of :func:`error_rows` rows and of the TSV written by :func:`write_errors_tsv`."""

MISSED = "missed"
SPURIOUS = "spurious"


def classify_record(gold: Record, pred: Record) -> list[dict]:
    """Error rows of one record (see :func:`error_rows`)."""
    gold_spans, pred_spans = set(gold.spans), set(pred.spans)
    matched = gold_spans & pred_spans
    pred_text = prediction_text(gold, pred)

    def best(candidates: list[Span], p: Span) -> Span:
        # prefer a gold span nobody predicted exactly, then the largest overlap, then position
        return min(candidates, key=lambda g: (g in matched, -overlap(g, p), g))

    rows: list[dict] = []
    linked: set[Span] = set()
    for p in sorted(pred_spans - gold_spans):
        same_bounds = [g for g in gold_spans if (g.start, g.end) == (p.start, p.end)]
        overlapping = [g for g in gold_spans if g.overlaps(p)]
        same_type = [g for g in overlapping if g.label == p.label]
        if same_bounds:
            category, g = "type_error", best(same_bounds, p)
        elif same_type:
            category, g = "boundary_error", best(same_type, p)
        elif overlapping:
            category, g = "boundary_type_error", best(overlapping, p)
        else:
            category, g = SPURIOUS, None
        if g is not None:
            linked.add(g)
        rows.append(_row(gold.id, category, g, gold.text, p, pred_text))
    for g in sorted(gold_spans - matched - linked):
        rows.append(_row(gold.id, MISSED, g, gold.text, None, pred_text))
    return rows


def _row(
    record_id: int | str,
    category: str,
    gold_span: Span | None,
    gold_text: str,
    pred_span: Span | None,
    pred_text: str,
) -> dict:
    row: dict = {"id": record_id, "category": category}
    for prefix, span, text in (("gold", gold_span, gold_text), ("pred", pred_span, pred_text)):
        row[f"{prefix}_type"] = span.label if span else None
        row[f"{prefix}_start"] = span.start if span else None
        row[f"{prefix}_end"] = span.end if span else None
        row[f"{prefix}_text"] = span.surface(text) if span else None
    return row


def error_rows(gold: Sequence[Record], pred: Sequence[Record]) -> list[dict]:
    """One row per error, columns :data:`ERROR_COLUMNS`, in gold record order.

    Every predicted span without an exact gold match gives one row, classified by the
    first rule that applies:

    * ``type_error``: a gold span has the same start and end but another type;
    * ``boundary_error``: it overlaps a gold span of its type (other boundaries);
    * ``boundary_type_error``: it overlaps a gold span of another type (other boundaries);
    * ``spurious``: it overlaps no gold span.

    The row names the gold span it was compared with (one not predicted exactly preferred,
    then the largest overlap). Every gold span without an exact match that no such row
    names gives a ``missed`` row. Missing fields are ``None``.
    """
    return [row for g, p in align(gold, pred) for row in classify_record(g, p)]


def error_summary(rows: Iterable[dict], all_types: Sequence[str]) -> dict:
    """Counts by category and by type (prediction errors under the predicted type,
    ``missed`` under the gold type)."""
    by_category = dict.fromkeys(ERROR_CATEGORIES, 0)
    by_type = {t: dict.fromkeys(ERROR_CATEGORIES, 0) for t in all_types}
    for row in rows:
        category = row["category"]
        entity_type = row["gold_type"] if category == MISSED else row["pred_type"]
        by_category[category] += 1
        by_type.setdefault(entity_type, dict.fromkeys(ERROR_CATEGORIES, 0))[category] += 1
    return {"by_category": by_category, "by_type": by_type}


def write_errors_tsv(path: str | Path, rows: Iterable[dict]) -> int:
    """Write error rows as UTF-8 TSV with a header in :data:`ERROR_COLUMNS` order.

    ``None`` becomes an empty field. Returns the number of rows written.
    """
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(ERROR_COLUMNS)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in ERROR_COLUMNS])
            count += 1
    return count


# --------------------------------------------------------------------------- confusion


def confusion(
    gold: Sequence[Record], pred: Sequence[Record], types: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Type confusion ``matrix[gold_type][pred_type]`` over one-to-one overlapping spans.

    Per record, gold and predicted spans are paired greedily, each span at most once:
    identical boundaries first (same type before other type), then larger overlaps.
    Paired spans count in ``[gold.label][pred.label]`` (the diagonal thus also holds
    boundary mismatches of the right type); unpaired gold spans in ``[type]["missed"]``,
    unpaired predictions in ``["spurious"][type]``. Rows are the types plus
    ``"spurious"``, columns the types plus ``"missed"``; all cells are present.
    """
    pairs = align(gold, pred)
    all_types = scored_types(types, pairs)
    matrix = {row: dict.fromkeys([*all_types, MISSED], 0) for row in [*all_types, SPURIOUS]}
    for g_record, p_record in pairs:
        gold_spans, pred_spans = sorted(set(g_record.spans)), sorted(set(p_record.spans))
        candidates = sorted(
            (
                ((g.start, g.end) != (p.start, p.end), g.label != p.label, -overlap(g, p), g, p),
                g,
                p,
            )
            for g in gold_spans
            for p in pred_spans
            if g.overlaps(p)
        )
        used_gold: set[Span] = set()
        used_pred: set[Span] = set()
        for _, g, p in candidates:
            if g not in used_gold and p not in used_pred:
                used_gold.add(g)
                used_pred.add(p)
                matrix[g.label][p.label] += 1
        for g in gold_spans:
            if g not in used_gold:
                matrix[g.label][MISSED] += 1
        for p in pred_spans:
            if p not in used_pred:
                matrix[SPURIOUS][p.label] += 1
    return matrix
