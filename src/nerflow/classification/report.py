"""The report pages of a classification run: F1 per class, the confusion matrix and the
most confident errors with their texts (figures with matplotlib, pages as HTML)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nerflow.report.leaderboard import html_table
from nerflow.report.plots import confusion_figure, per_type_f1_figure, save_figure

ERROR_COLUMNS = ("line", "id", "gold", "predicted", "probability", "text")


def write_figures(
    scores: Mapping[str, Any], title: str, f1_path: Path, confusion_path: Path
) -> None:
    """F1 per class (lines: accuracy and macro F1) and the class confusion matrix."""
    labels = list(scores["labels"])
    figure = per_type_f1_figure(
        {"per_type": scores["per_class"]},
        labels,
        title=f"{title}: F1 per class",
        xlabel="F1",
        lines={"accuracy": scores["accuracy"], "macro F1": scores["macro_f1"]},
    )
    save_figure(figure, f1_path)
    matrix = {
        gold: dict(zip(labels, row, strict=True))
        for gold, row in zip(labels, scores["confusion"], strict=True)
    }
    save_figure(confusion_figure(matrix, f"{title}: class confusion", what="class"), confusion_path)


def errors_page(errors: Sequence[Mapping[str, Any]], title: str) -> str:
    """The most confident errors as one HTML table."""
    rows = [{**row, "probability": round(float(row["probability"]), 4)} for row in errors]
    return html_table(
        ERROR_COLUMNS,
        rows,
        f"{title}: the most confident errors",
        note="Wrong predictions, the highest probability of the predicted class first.",
        highlight_best=False,
        wrap=("text",),
    )


def leaderboard_page(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    return html_table(
        columns,
        rows,
        "Classification leaderboard",
        note="Dev selects models and epochs; test, when labelled, is reported only.",
    )
