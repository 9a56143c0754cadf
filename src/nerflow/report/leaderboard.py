"""Tables of the workflow report: the experiment leaderboard and the error categories.

Pure functions from the JSON the workflow writes (``dev_scores.json`` of
:func:`nerflow.evaluation.scoring.score`, ``train_summary.json`` of
:func:`nerflow.training.train.train`)
to rows (dicts), plus writers for TSV and for a small self-contained HTML table (the
Snakemake report shows HTML inline; a TSV is only offered as a download).

Leaderboard: one row per experiment, sorted by dev micro F1 (best first, ties by name)
and ranked; reference rows (the oracle: gold labels through tokenisation and restore,
no model) come last, with ``rank`` set to ``ref`` and no training columns. The oracle
is the ceiling any model can reach with that tokenisation, so it belongs next to the
experiments but is never ranked among them.
"""

from __future__ import annotations

import csv
import html
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nerflow.evaluation.errors import ERROR_CATEGORIES

SCORE_COLUMNS: tuple[str, ...] = (
    "micro_precision",
    "micro_recall",
    "micro_f1",
    "macro_f1",
    "clue_macro_f1",
)
TEST_COLUMNS: tuple[str, ...] = ("test_micro_f1", "test_macro_f1", "test_clue_macro_f1")
"""Scores on a labelled test split (reported next to dev; dev alone ranks and selects)."""
TRAIN_COLUMNS: tuple[str, ...] = (
    "train_minutes",
    "params",
    "best_epoch",
    "stop_reason",
    "sentences_per_s",
    "device",
)
"""From ``train_summary.json``; ``stop_reason`` ``time_budget`` marks a run that its time
budget cut (its result depends on the machine's speed), the others stopped by work:
``completed``, ``patience``."""
SETUP_COLUMNS: tuple[str, ...] = ("encoder", "head", "tokenization", "max_len")
REFERENCE = "reference"
EXPERIMENT = "experiment"
ENSEMBLE = "ensemble"
"""``kind`` of a run whose ``train_summary.json`` says it is an ensemble (ranked with the
experiments)."""
SCORE_DIGITS = 4


def type_column(entity_type: str) -> str:
    return f"f1_{entity_type}"


def leaderboard_columns(types: Sequence[str], test: bool = False) -> list[str]:
    """Column order: rank, experiment, kind, scores, test scores (``test``), per-type F1,
    training, setup."""
    return [
        "rank",
        "experiment",
        "kind",
        *SCORE_COLUMNS,
        *(TEST_COLUMNS if test else ()),
        *(type_column(t) for t in types),
        *TRAIN_COLUMNS,
        *SETUP_COLUMNS,
    ]


def describe_encoder(experiment: Mapping[str, Any]) -> str:
    """The configured encoder; from-scratch encoders get their size (layers x hidden);
    ensembles (``members``) are described as their vote."""
    members = experiment.get("members")
    if members:
        needed = experiment.get("min_votes") or len(members) // 2 + 1
        return f"vote {needed}/{len(members)}: {', '.join(members)}"
    encoder = str(experiment.get("encoder", ""))
    scratch = experiment.get("scratch")
    if encoder == "scratch" and isinstance(scratch, Mapping) and scratch:
        return f"scratch {scratch.get('layers', '?')}x{scratch.get('hidden', '?')}"
    return encoder


def leaderboard_row(
    name: str,
    scores: Mapping[str, Any],
    types: Sequence[str],
    summary: Mapping[str, Any] | None = None,
    experiment: Mapping[str, Any] | None = None,
    kind: str = EXPERIMENT,
    test_scores: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One leaderboard row from an experiment's dev scores, training summary and config
    (and its scores on a labelled test split: the :data:`TEST_COLUMNS`).

    Missing values are ``None``; a type absent from the scores has F1 ``None`` (not 0:
    it was not scored, e.g. a label set changed between runs).
    """
    micro = scores.get("micro", {})
    per_type = scores.get("per_type", {})
    summary = summary or {}
    if kind == EXPERIMENT and summary.get("kind") == ENSEMBLE:
        kind = ENSEMBLE
    experiment = experiment or {}
    row: dict[str, Any] = {
        "rank": None,
        "experiment": name,
        "kind": kind,
        "micro_precision": micro.get("precision"),
        "micro_recall": micro.get("recall"),
        "micro_f1": micro.get("f1"),
        "macro_f1": scores.get("macro_f1"),
        "clue_macro_f1": scores.get("clue_macro_f1"),
    }
    if test_scores is not None:
        row["test_micro_f1"] = test_scores.get("micro", {}).get("f1")
        row["test_macro_f1"] = test_scores.get("macro_f1")
        row["test_clue_macro_f1"] = test_scores.get("clue_macro_f1")
    for entity_type in types:
        row[type_column(entity_type)] = per_type.get(entity_type, {}).get("f1")
    for key in TRAIN_COLUMNS:
        row[key] = summary.get(key)
    row["encoder"] = describe_encoder(experiment) if experiment else None
    for key in ("head", "tokenization", "max_len"):
        row[key] = experiment.get(key)
    return row


def rank_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Experiments by micro F1 (best first, then name) ranked 1..n, then reference rows."""
    rows = [dict(row) for row in rows]
    experiments = [row for row in rows if row.get("kind") != REFERENCE]
    references = [row for row in rows if row.get("kind") == REFERENCE]

    def key(row: Mapping[str, Any]) -> tuple[float, str]:
        value = row.get("micro_f1")
        return (-(value if isinstance(value, (int, float)) else -1.0), str(row["experiment"]))

    experiments.sort(key=key)
    for rank, row in enumerate(experiments, start=1):
        row["rank"] = rank
    for row in references:
        row["rank"] = "ref"
    return experiments + sorted(references, key=lambda row: str(row["experiment"]))


def format_value(value: Any, column: str = "") -> str:
    """Table text of a value: scores with 4 decimals, minutes with 2, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if column in ("train_minutes", "sentences_per_s"):
            return f"{value:.2f}"
        return f"{value:.{SCORE_DIGITS}f}"
    return str(value)


def write_tsv(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write a UTF-8 TSV with a header; returns the number of rows."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([format_value(row.get(column), column) for column in columns])
            count += 1
    return count


def best_values(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per score column (overall and per type), the best value among experiment rows."""
    best: dict[str, float] = {}
    for column in columns:
        if column in SCORE_COLUMNS or column in TEST_COLUMNS or column.startswith("f1_"):
            values = [
                row[column]
                for row in rows
                if row.get("kind") != REFERENCE and isinstance(row.get(column), (int, float))
            ]
            if values:
                best[column] = max(values)
    return best


TABLE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1em;color:#222}"
    "table{border-collapse:collapse;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}"
    "th{background:#eef2f7;position:sticky;top:0}"
    "td.text{text-align:left}tr.reference td{color:#666;font-style:italic}"
    "td.best{font-weight:bold;background:#e6f4ea}caption{text-align:left;margin-bottom:.5em}"
    "td.wrap{white-space:normal;min-width:24em;max-width:60em}"
)


def html_table(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    title: str,
    note: str = "",
    highlight_best: bool = True,
    wrap: Sequence[str] = (),
    links: Mapping[str, str] | None = None,
    link_column: str = "experiment",
) -> str:
    """A complete, self-contained HTML page holding one table (values escaped).

    With ``highlight_best`` the best experiment value of every score column is bold;
    rows of kind ``reference`` are greyed; the cells of the ``wrap`` columns (long texts)
    wrap their lines. A ``link_column`` cell whose value is a key of ``links`` links to
    its value (an href, e.g. from :func:`relative_links`).
    """
    links = links or {}
    best = best_values(columns, rows) if highlight_best else {}
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            classes = []
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                classes.append("text")
            if column in wrap:
                classes.append("wrap")
            if (
                column in best
                and row.get("kind") != REFERENCE
                and isinstance(value, (int, float))
                and value == best[column]
            ):
                classes.append("best")
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            text = html.escape(format_value(value, column))
            href = links.get(str(value)) if column == link_column else None
            if href is not None:
                text = f'<a href="{html.escape(href, quote=True)}">{text}</a>'
            cells.append(f"<td{attribute}>{text}</td>")
        row_class = ' class="reference"' if row.get("kind") == REFERENCE else ""
        body.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    caption = html.escape(title) + (f"<br><small>{html.escape(note)}</small>" if note else "")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{TABLE_STYLE}</style></head><body>\n"
        f"<table><caption>{caption}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>\n</body></html>\n"
    )


def relative_links(targets: Mapping[str, str | Path], page: str | Path) -> dict[str, str]:
    """``{name: href}``: each target path relative to the folder of the HTML ``page``
    (both relative to the same directory, or both absolute), with ``/`` separators and
    each path segment percent-encoded, so the link resolves wherever the files move
    together."""
    folder = Path(page).parent
    return {
        name: "/".join(quote(part) for part in Path(os.path.relpath(Path(target), folder)).parts)
        for name, target in targets.items()
    }


# --------------------------------------------------------------------------- errors


def error_table(
    errors: Mapping[str, Any], types: Sequence[str] | None = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of the error categories (``score()["errors"]``): one row per type
    (prediction errors under the predicted type, ``missed`` under the gold type) with a
    count per category and the row total, then a ``total`` row (``by_category``)."""
    by_type: Mapping[str, Mapping[str, int]] = errors.get("by_type", {})
    by_category: Mapping[str, int] = errors.get("by_category", {})
    categories = list(ERROR_CATEGORIES) + sorted(
        {c for counts in by_type.values() for c in counts} - set(ERROR_CATEGORIES)
    )
    names = list(types) if types is not None else list(by_type)
    names += [name for name in by_type if name not in names]
    columns = ["type", *categories, "total"]
    rows = []
    for name in names:
        counts = by_type.get(name, {})
        row: dict[str, Any] = {"type": name}
        row.update({category: int(counts.get(category, 0)) for category in categories})
        row["total"] = sum(row[category] for category in categories)
        rows.append(row)
    total: dict[str, Any] = {"type": "total"}
    total.update({category: int(by_category.get(category, 0)) for category in categories})
    total["total"] = sum(total[category] for category in categories)
    rows.append(total)
    return columns, rows


def scores_text(scores: Mapping[str, Any]) -> str:
    """One run's scores (:func:`nerflow.evaluation.scoring.score`) as a plain-text table:
    micro and macro figures, per type, error counts (``nerflow score``)."""
    micro = scores["micro"]
    lines = [
        f"records {scores['n_records']}, text mismatches {scores['text_mismatch_lines']}",
        f"strict micro  P {micro['precision']:.4f}  R {micro['recall']:.4f}  "
        f"F1 {micro['f1']:.4f}  (tp {micro['tp']}, fp {micro['fp']}, fn {micro['fn']})",
        f"strict macro F1 {scores['macro_f1']:.4f}   CLUE macro F1 {scores['clue_macro_f1']:.4f}"
        f"   seqeval micro F1 {scores['seqeval_micro_f1']:.4f}",
        "",
        f"{'type':<20} {'P':>7} {'R':>7} {'F1':>7} {'CLUE F1':>8} {'support':>8}",
    ]
    for entity_type, row in scores["per_type"].items():
        clue = scores["clue"]["per_type"].get(entity_type, {}).get("f1")
        clue_text = f"{clue:.4f}" if isinstance(clue, float | int) else "n/a"
        lines.append(
            f"{entity_type:<20} {row['precision']:>7.4f} {row['recall']:>7.4f} "
            f"{row['f1']:>7.4f} {clue_text:>8} {row['support']:>8}"
        )
    errors = ", ".join(f"{k} {v}" for k, v in scores["errors"]["by_category"].items())
    lines += ["", f"errors: {errors}"]
    return "\n".join(lines)
