"""The classification leaderboard: one row per run, best dev accuracy first."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nerflow.atomic import atomic_output
from nerflow.jsonio import read_json

COLUMNS = (
    "run",
    "kind",
    "model",
    "dev_accuracy",
    "dev_macro_f1",
    "test_accuracy",
    "test_macro_f1",
    "dev_unseen_accuracy",
    "test_unseen_accuracy",
    "train_minutes",
    "epochs",
    "stop_reason",
)


def describe(kind: str, settings: Mapping[str, Any], members: Sequence[str] = ()) -> str:
    """What the model is, in one cell."""
    if kind == "ensemble":
        return "mean probabilities of " + ", ".join(members)
    if kind == "linear":
        grams = f"char {settings['ngram_min']}-{settings['ngram_max']}-grams"
        return f"{settings['weighting']} {grams}, logistic regression C={settings['C']}"
    return f"{settings['encoder']} {settings['pooling']} pooling, max_len {settings['max_len']}"


def leaderboard_rows(
    runs: Sequence[str],
    splits: Sequence[str],
    score_files: Sequence[str | Path],
    summary_files: Sequence[str | Path],
    kinds: Mapping[str, str],
    experiments: Mapping[str, Mapping[str, Any]],
    members: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """Rows from the score files (``runs`` x ``splits``, in that order) and the training
    summaries (of the runs that are no ensemble, in order); an ensemble's training time
    is its members' sum."""

    scores = iter(score_files)
    trained = [run for run in runs if kinds[run] != "ensemble"]
    summaries = {run: read_json(path) for run, path in zip(trained, summary_files, strict=True)}
    rows = []
    for run in runs:
        kind = kinds[run]
        summary = summaries.get(run, {})
        minutes = [summaries[m].get("train_minutes") or 0.0 for m in members[run]]
        row: dict[str, Any] = {
            "run": run,
            "kind": kind,
            "model": describe(kind, experiments.get(run, {}), members[run]),
            "train_minutes": round(sum(minutes), 4),
            "epochs": summary.get("epochs_run"),
            "stop_reason": summary.get("stop_reason"),
        }
        for split in splits:
            result = read_json(next(scores))
            row[f"{split}_accuracy"] = result["accuracy"]
            row[f"{split}_macro_f1"] = result["macro_f1"]
            row[f"{split}_unseen_accuracy"] = result["train_overlap"]["unseen"]["accuracy"]
        rows.append(row)
    rows.sort(key=lambda row: -row["dev_accuracy"])
    return rows


def write_leaderboard(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with atomic_output(path) as handle:
        writer = csv.DictWriter(handle, COLUMNS, delimiter="\t", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in COLUMNS})
