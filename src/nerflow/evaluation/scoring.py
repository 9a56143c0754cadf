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
  exactly one category (:func:`nerflow.evaluation.errors.error_rows`).

Spans are compared as sets: a span listed twice in one record counts once. All returned
numbers are plain ``int``/``float`` so the result can be written with ``json``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

from nerflow.data.records import Record, Span
from nerflow.evaluation.errors import classify_record, error_summary
from nerflow.evaluation.pairs import align, prediction_text, scored_types
from nerflow.text.tagging import spans_to_tags

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


def _iobes_or_none(n_chars: int, spans: Iterable[Span]) -> list[str] | None:
    """Character IOBES tags of the spans, or ``None`` when they overlap or leave the text."""
    try:
        return spans_to_tags(n_chars, sorted(set(spans)), "BIOES")
    except ValueError:
        return None


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
        pred_text = prediction_text(gold, pred)
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
    all_types = scored_types(configured, pairs)
    per_type_counts, (tp, fp, fn) = _strict_counts(pairs)
    per_type = {}
    for entity_type in all_types:
        t_tp, t_fp, t_fn = per_type_counts.get(entity_type, [0, 0, 0])
        per_type[entity_type] = {**prf(t_tp, t_fp, t_fn), "support": t_tp + t_fn}
    clue = _clue_scores(pairs, configured)
    rows = [row for g, p in pairs for row in classify_record(g, p)]
    return {
        "micro": prf(tp, fp, fn),
        "per_type": per_type,
        "extra_types": all_types[len(configured) :],
        "macro_f1": _mean([per_type[t]["f1"] for t in configured]),
        "clue": clue,
        "clue_macro_f1": clue["macro_f1"],
        **_seqeval_check(pairs),
        "errors": error_summary(rows, all_types),
        "n_records": len(pairs),
        "text_mismatch_lines": int(text_mismatch_lines),
    }
