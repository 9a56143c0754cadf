"""Scoring predicted spans against gold spans, several ways, plus an error analysis.

Figures reported by :func:`score` (records are aligned by ``id``):

* strict span scores: exact ``(type, start, end)`` matches, micro over all spans, per type
  and the macro mean over the configured types;
* the official CLUE scorer (``score.py`` of CLUENER2020): position-blind, per record and
  type it compares the SET of entity strings; the macro mean over the configured types
  ("Overall@Macro"), but 0.0 instead of the original's ZeroDivisionError;
* seqeval (``mode="strict"``, IOBES) on character tags, which must equal the strict micro F1
  (checked: a difference raises ``AssertionError``). Records with overlapping (nested) or
  out-of-text spans cannot be tagged and are left out of this check only;
* an error analysis: every unmatched prediction and every unmatched gold span is put in
  exactly one category (see :func:`error_rows`).

Spans are compared as sets: a span listed twice in one record counts once. All returned
numbers are plain ``int``/``float`` so the result can be written with ``json``.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from nerflow.data.records import Record, Span
from nerflow.text.tagging import spans_to_tags

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
SEQEVAL_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- helpers


def _divide(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, 0.0 when the denominator is 0."""
    return float(numerator) / denominator if denominator else 0.0


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    """Precision, recall and F1 from counts (0.0 where undefined), with the counts."""
    precision = _divide(tp, tp + fp)
    recall = _divide(tp, tp + fn)
    f1 = _divide(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def _mean(values: Sequence[float]) -> float:
    return float(sum(values)) / len(values) if values else 0.0


def align(gold: Sequence[Record], pred: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Pair gold and predicted records by ``id``, in gold order.

    Raises ``ValueError`` naming the ids when ids repeat or the two id sets differ.
    """
    for name, records in (("gold", gold), ("pred", pred)):
        seen: set[int | str] = set()
        repeated: list[int | str] = []
        for record in records:
            if record.id in seen:
                repeated.append(record.id)
            seen.add(record.id)
        if repeated:
            raise ValueError(f"{name} records repeat ids: {_show_ids(repeated)}")
    by_id = {record.id: record for record in pred}
    gold_ids = {record.id for record in gold}
    missing = [record.id for record in gold if record.id not in by_id]
    extra = [record.id for record in pred if record.id not in gold_ids]
    if missing or extra:
        raise ValueError(
            "gold and predicted record ids differ: "
            f"{len(missing)} gold ids without prediction {_show_ids(missing)}, "
            f"{len(extra)} predicted ids not in gold {_show_ids(extra)}"
        )
    return [(record, by_id[record.id]) for record in gold]


def _show_ids(ids: Sequence[int | str], limit: int = 10) -> str:
    shown = ", ".join(repr(i) for i in ids[:limit])
    return f"[{shown}{', ...' if len(ids) > limit else ''}]"


def _all_types(types: Sequence[str], pairs: Iterable[tuple[Record, Record]]) -> list[str]:
    """Configured types (in order, deduplicated) followed by any other type seen, sorted."""
    configured = list(dict.fromkeys(types))
    seen = {span.label for g, p in pairs for span in (*g.spans, *p.spans)}
    return configured + sorted(seen - set(configured))


def _pred_text(gold: Record, pred: Record) -> str:
    """The text predicted offsets refer to: the prediction's own, else the gold text."""
    return pred.text or gold.text


def _iobes_or_none(n_chars: int, spans: Iterable[Span]) -> list[str] | None:
    """Character IOBES tags of the spans, or ``None`` when they overlap or leave the text."""
    try:
        return spans_to_tags(n_chars, sorted(set(spans)), "BIOES")
    except ValueError:
        return None


def _overlap(a: Span, b: Span) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start) + 1)


# --------------------------------------------------------------------------- strict & CLUE


def _strict_counts(
    pairs: Iterable[tuple[Record, Record]],
) -> tuple[dict[str, list[int]], list[int]]:
    """Per-type and overall ``[tp, fp, fn]`` over exact ``(type, start, end)`` spans."""
    per_type: dict[str, list[int]] = {}
    total = [0, 0, 0]
    for gold, pred in pairs:
        gold_spans, pred_spans = set(gold.spans), set(pred.spans)
        for index, spans in ((0, gold_spans & pred_spans), (1, pred_spans - gold_spans)):
            for span in spans:
                per_type.setdefault(span.label, [0, 0, 0])[index] += 1
                total[index] += 1
        for span in gold_spans - pred_spans:
            per_type.setdefault(span.label, [0, 0, 0])[2] += 1
            total[2] += 1
    return per_type, total


def _clue_scores(pairs: Sequence[tuple[Record, Record]], types: Sequence[str]) -> dict:
    """Official CLUE (position-blind, set-of-strings) scores per type and their macro mean."""
    counts = {entity_type: [0, 0, 0] for entity_type in types}
    for gold, pred in pairs:
        pred_text = _pred_text(gold, pred)
        for entity_type, row in counts.items():
            gold_strings = {s.surface(gold.text) for s in gold.spans if s.label == entity_type}
            pred_strings = {s.surface(pred_text) for s in pred.spans if s.label == entity_type}
            row[0] += len(gold_strings & pred_strings)
            row[1] += len(pred_strings - gold_strings)
            row[2] += len(gold_strings - pred_strings)
    per_type = {t: {**prf(*row), "support": row[0] + row[2]} for t, row in counts.items()}
    return {
        "per_type": per_type,
        "macro_f1": _mean([per_type[t]["f1"] for t in types]),
    }


def _seqeval_check(pairs: Sequence[tuple[Record, Record]]) -> dict:
    """seqeval strict IOBES micro F1 on taggable records, asserted equal to strict micro F1."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOBES

    included: list[tuple[Record, Record]] = []
    excluded_ids: list[int | str] = []
    y_true: list[list[str]] = []
    y_pred: list[list[str]] = []
    for gold, pred in pairs:
        gold_tags = _iobes_or_none(len(gold.text), gold.spans)
        pred_tags = _iobes_or_none(len(gold.text), pred.spans)
        if gold_tags is None or pred_tags is None:
            excluded_ids.append(gold.id)
        else:
            included.append((gold, pred))
            y_true.append(gold_tags)
            y_pred.append(pred_tags)
    _, (tp, fp, fn) = _strict_counts(included)
    strict_f1 = prf(tp, fp, fn)["f1"]
    if included:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seqeval_f1 = float(
                f1_score(y_true, y_pred, mode="strict", scheme=IOBES, zero_division=0)
            )
    else:
        seqeval_f1 = 0.0
    if abs(seqeval_f1 - strict_f1) > SEQEVAL_TOLERANCE:
        raise AssertionError(
            f"seqeval strict IOBES micro F1 {seqeval_f1!r} != strict span micro F1 "
            f"{strict_f1!r} on the same {len(included)} records"
        )
    return {
        "seqeval_micro_f1": seqeval_f1,
        "seqeval_strict_micro_f1": strict_f1,
        "seqeval_excluded_records": len(excluded_ids),
        "seqeval_excluded_ids": excluded_ids,
    }


# --------------------------------------------------------------------------- errors


def _classify_record(gold: Record, pred: Record) -> list[dict]:
    """Error rows of one record (see :func:`error_rows`)."""
    gold_spans, pred_spans = set(gold.spans), set(pred.spans)
    matched = gold_spans & pred_spans
    pred_text = _pred_text(gold, pred)

    def best(candidates: list[Span], p: Span) -> Span:
        # prefer a gold span nobody predicted exactly, then the largest overlap, then position
        return min(candidates, key=lambda g: (g in matched, -_overlap(g, p), g))

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
    return [row for g, p in align(gold, pred) for row in _classify_record(g, p)]


def _error_summary(rows: Iterable[dict], all_types: Sequence[str]) -> dict:
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
    all_types = _all_types(types, pairs)
    matrix = {row: dict.fromkeys([*all_types, MISSED], 0) for row in [*all_types, SPURIOUS]}
    for g_record, p_record in pairs:
        gold_spans, pred_spans = sorted(set(g_record.spans)), sorted(set(p_record.spans))
        candidates = sorted(
            (
                ((g.start, g.end) != (p.start, p.end), g.label != p.label, -_overlap(g, p), g, p),
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


# --------------------------------------------------------------------------- score


def score(
    gold: Sequence[Record],
    pred: Sequence[Record],
    types: Sequence[str],
    text_mismatch_lines: int = 0,
) -> dict:
    """Score predictions against gold records (aligned by ``id``), see the module docstring.

    Returns a JSON-serialisable dict with keys ``micro`` (precision, recall, f1, tp, fp,
    fn), ``per_type`` (the same plus ``support`` for every configured type, then for any
    other type seen, listed in ``extra_types``), ``macro_f1`` (mean strict F1 over the
    configured types), ``clue`` (``per_type`` and ``macro_f1`` of the official
    position-blind scorer) and ``clue_macro_f1``, ``seqeval_micro_f1`` with
    ``seqeval_strict_micro_f1``, ``seqeval_excluded_records`` and ``seqeval_excluded_ids``,
    ``errors`` (``by_category``, ``by_type``), ``n_records`` and ``text_mismatch_lines``
    (passed through).

    Raises ``ValueError`` if the id sets differ and ``AssertionError`` if seqeval disagrees
    with the strict micro F1 on the taggable records.
    """
    pairs = align(gold, pred)
    configured = list(dict.fromkeys(types))
    all_types = _all_types(configured, pairs)
    per_type_counts, (tp, fp, fn) = _strict_counts(pairs)
    per_type = {}
    for entity_type in all_types:
        t_tp, t_fp, t_fn = per_type_counts.get(entity_type, [0, 0, 0])
        per_type[entity_type] = {**prf(t_tp, t_fp, t_fn), "support": t_tp + t_fn}
    clue = _clue_scores(pairs, configured)
    rows = [row for g, p in pairs for row in _classify_record(g, p)]
    return {
        "micro": prf(tp, fp, fn),
        "per_type": per_type,
        "extra_types": all_types[len(configured) :],
        "macro_f1": _mean([per_type[t]["f1"] for t in configured]),
        "clue": clue,
        "clue_macro_f1": clue["macro_f1"],
        **_seqeval_check(pairs),
        "errors": _error_summary(rows, all_types),
        "n_records": len(pairs),
        "text_mismatch_lines": int(text_mismatch_lines),
    }
