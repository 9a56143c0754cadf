"""Figures of the workflow report: pure functions from scores, logs and counts to figures.

Every ``*_figure`` function takes plain data (the dicts the workflow writes as JSON) and
returns a :class:`matplotlib.figure.Figure` built without ``pyplot``: no global state, no
GUI backend, nothing shown. :func:`save_figure` writes it as SVG or PNG (by suffix) with
stable output: no timestamp in the metadata and a fixed SVG id salt, so the same data
gives the same bytes. Type names are ASCII, so no CJK font is needed.

Figures:

* :func:`per_type_f1_figure`: strict span F1 per entity type (support in the tick labels),
  micro and macro F1 marked;
* :func:`training_curves_figure`: training loss and dev F1 (micro, macro, CLUE macro)
  per evaluation of ``train_log.jsonl``, the selected (best) evaluation marked;
* :func:`confusion_figure`: gold type x predicted type counts over overlapping spans, plus
  ``missed`` and ``spurious`` (see :func:`nerflow.evaluation.errors.confusion`);
* :func:`text_lengths_figure`: text length in tokens per split, the configured ``max_len``
  and mean + 3 sigma marked (:func:`length_stats` gives the numbers);
* :func:`label_distribution_figure`: entities per type and split, counts and shares.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

FORMATS = ("svg", "png")
SVG_SALT = "nerflow"
DPI = 110
MISSED = "missed"
SPURIOUS = "spurious"
SPLIT_COLOURS = {"train": "#4C72B0", "dev": "#DD8452", "test": "#55A868"}
F1_SERIES = (
    ("dev_micro_f1", "micro F1", "#4C72B0"),
    ("dev_macro_f1", "macro F1", "#DD8452"),
    ("dev_clue_macro_f1", "CLUE macro F1", "#55A868"),
)


# --------------------------------------------------------------------------- I/O


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` as SVG or PNG (by the suffix of ``path``), reproducibly."""
    out = Path(path)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"{out}: unsupported figure format {fmt!r}; use one of {FORMATS}")
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    with rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "path"}):
        figure.savefig(out, format=fmt, dpi=DPI, metadata=metadata, bbox_inches="tight")
    return out


def read_jsonl(path: str | Path) -> list[dict]:
    """JSON objects of a JSON-lines file (blank lines skipped)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _placeholder(axes: Any, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


# --------------------------------------------------------------------------- scores


def per_type_f1_figure(
    scores: Mapping[str, Any],
    types: Sequence[str] | None = None,
    title: str = "",
    xlabel: str = "strict span F1 (dev)",
    lines: Mapping[str, float] | None = None,
) -> Figure:
    """Horizontal bars of strict F1 per type from a ``score()`` result (or of F1 per
    class: ``scores["per_type"]`` is any ``{name: {"f1", "support"}}``).

    ``types`` fixes the order (default: the order of ``scores["per_type"]``); a type
    without scores shows as 0 with support 0. Dashed lines mark ``lines`` (default micro
    and macro F1).
    """
    per_type = scores.get("per_type", {})
    names = list(types) if types is not None else list(per_type)
    f1 = [float(per_type.get(name, {}).get("f1", 0.0)) for name in names]
    support = [int(per_type.get(name, {}).get("support", 0)) for name in names]
    figure = Figure(figsize=(7.5, 1.2 + 0.42 * max(len(names), 1)))
    axes = figure.add_subplot()
    if not names:
        _placeholder(axes, "no entity types")
        return figure
    positions = list(range(len(names)))[::-1]  # first type on top
    bars = axes.barh(positions, f1, color="#4C72B0", height=0.7)
    for bar, value in zip(bars, f1, strict=True):
        inside = value > 0.88  # no room right of the bar: write the value inside it
        axes.text(
            value - 0.01 if inside else value + 0.01,
            bar.get_y() + bar.get_height() / 2,
            f"{value:.3f}",
            va="center",
            ha="right" if inside else "left",
            color="white" if inside else "black",
            fontsize=9,
        )
    axes.set_yticks(positions, [f"{name} (n={n})" for name, n in zip(names, support, strict=True)])
    if lines is None:
        lines = {
            "micro F1": float(scores.get("micro", {}).get("f1", 0.0)),
            "macro F1": float(scores.get("macro_f1", 0.0)),
        }
    for (name, value), colour, style in zip(
        lines.items(), ("#C44E52", "#8172B2", "#55A868"), ("--", ":", "-."), strict=False
    ):
        axes.axvline(value, color=colour, linestyle=style, label=f"{name} {value:.3f}")
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel(xlabel)
    axes.legend(loc="lower right", fontsize=8, framealpha=0.9)
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(title or "F1 per entity type")
    return figure


def confusion_figure(
    matrix: Mapping[str, Mapping[str, int]], title: str = "", what: str = "type"
) -> Figure:
    """Heat map of ``matrix[gold][pred]`` (:func:`nerflow.evaluation.errors.confusion`), counts
    written.

    Colours are row shares (each gold type's spans sum to 1), so the diagonal stands out
    whatever the type frequencies; the ``spurious`` row is shaded by its own total.
    """
    rows = list(matrix)
    columns = list(next(iter(matrix.values()), {}))
    figure = Figure(figsize=(1.6 + 0.62 * max(len(columns), 1), 1.4 + 0.55 * max(len(rows), 1)))
    axes = figure.add_subplot()
    if not rows or not columns:
        _placeholder(axes, "no spans")
        return figure
    counts = [[int(matrix[row].get(column, 0)) for column in columns] for row in rows]
    shares = [[value / (sum(line) or 1) for value in line] for line in counts]
    cmap = LinearSegmentedColormap.from_list("nerflow_blues", ["#FFFFFF", "#08519C"])
    image = axes.imshow(shares, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    for i, line in enumerate(counts):
        for j, value in enumerate(line):
            if value:
                colour = "white" if shares[i][j] > 0.55 else "black"
                axes.text(j, i, str(value), ha="center", va="center", fontsize=8, color=colour)
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel(f"predicted {what}")
    axes.set_ylabel(f"gold {what}")
    if MISSED in columns:
        axes.axvline(columns.index(MISSED) - 0.5, color="#444444", linewidth=1)
    if SPURIOUS in rows:
        axes.axhline(rows.index(SPURIOUS) - 0.5, color="#444444", linewidth=1)
    figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02, label="share of the row")
    axes.set_title(title or "Type confusion on overlapping spans")
    return figure


# --------------------------------------------------------------------------- training


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(x, y) of the rows where ``key`` is a finite number, x = step (or row index)."""
    xs, ys = [], []
    for index, row in enumerate(rows):
        value = row.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            xs.append(float(row.get("step", index)))
            ys.append(float(value))
    return xs, ys


def training_curves_figure(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Training loss (left) and dev F1 (right) per evaluation of ``train_log.jsonl`` rows.

    The x axis is the optimisation step; epoch boundaries are marked on the loss panel
    when several evaluations fall in one epoch. The rows flagged ``best`` (improvements)
    are drawn as markers and the last of them, the saved model, as a vertical line.
    """
    figure = Figure(figsize=(11.0, 4.0))
    loss_axes, f1_axes = figure.subplots(1, 2)
    if not rows:
        _placeholder(loss_axes, "no evaluations logged")
        _placeholder(f1_axes, "no evaluations logged")
        return figure
    xs, ys = _series(rows, "loss")
    if xs:
        loss_axes.plot(xs, ys, marker="o", markersize=3, color="#C44E52")
    else:
        _placeholder(loss_axes, "no loss logged")
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("training loss (mean since last evaluation)")
    loss_axes.set_title("Training loss")
    loss_axes.grid(alpha=0.3)
    epochs = [row.get("epoch") for row in rows]
    if len(set(epochs)) < len(epochs):  # several evaluations per epoch: mark epoch ends
        for row, following in pairwise(rows):
            if row.get("epoch") != following.get("epoch"):
                loss_axes.axvline(float(row.get("step", 0)), color="#999999", linewidth=0.6)
    for key, label, colour in F1_SERIES:
        xs, ys = _series(rows, key)
        if xs:
            f1_axes.plot(xs, ys, marker="o", markersize=3, label=label, color=colour)
    best = [row for row in rows if row.get("best")]
    if best:
        last = best[-1]
        step = float(last.get("step", 0))
        value = last.get("dev_micro_f1")
        label = f"best: step {int(step)}, epoch {last.get('epoch')}"
        if isinstance(value, (int, float)):
            label += f", micro F1 {value:.3f}"
        f1_axes.axvline(step, color="#333333", linestyle="--", linewidth=1, label=label)
    f1_axes.set_ylim(0.0, 1.0)
    f1_axes.set_xlabel("step")
    f1_axes.set_ylabel("dev F1")
    f1_axes.set_title("Dev F1 per evaluation")
    f1_axes.grid(alpha=0.3)
    f1_axes.legend(loc="lower right", fontsize=8)
    if title:
        figure.suptitle(title)
    return figure


# --------------------------------------------------------------------------- data


def length_stats(lengths: Sequence[int], max_len: int | None = None) -> dict[str, float | int]:
    """Count, mean, (population) standard deviation, mean + 3 sigma, max and how many
    lengths exceed ``max_len`` (0 when ``max_len`` is None)."""
    n = len(lengths)
    mean = sum(lengths) / n if n else 0.0
    std = math.sqrt(sum((x - mean) ** 2 for x in lengths) / n) if n else 0.0
    over = sum(1 for x in lengths if max_len is not None and x > max_len)
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "mean_plus_3sd": mean + 3 * std,
        "max": max(lengths, default=0),
        "over_max_len": over,
        "share_over_max_len": over / n if n else 0.0,
    }


def text_lengths_figure(
    lengths_by_split: Mapping[str, Sequence[int]],
    max_len: int,
    title: str = "",
    unit: str = "tokens",
) -> Figure:
    """Overlaid histograms of text lengths per split (density, so splits of any size
    compare), with ``max_len`` and the pooled mean + 3 sigma as vertical lines.

    The legend gives per split the number of texts, the mean and how many exceed
    ``max_len`` (those are split into windows or truncated).
    """
    figure = Figure(figsize=(8.0, 4.2))
    axes = figure.add_subplot()
    pooled = [x for lengths in lengths_by_split.values() for x in lengths]
    if not pooled:
        _placeholder(axes, "no texts")
        return figure
    stats = length_stats(pooled, max_len)
    top = max(stats["max"], max_len, math.ceil(stats["mean_plus_3sd"])) + 1
    width = max(1, math.ceil(top / 60))
    bins = list(range(0, top + width, width))
    for split, lengths in lengths_by_split.items():
        if not lengths:
            continue
        split_stats = length_stats(lengths, max_len)
        axes.hist(
            lengths,
            bins=bins,
            density=True,
            histtype="step",
            color=SPLIT_COLOURS.get(split, "#777777"),
            linewidth=1.8,
            label=(
                f"{split}: n={split_stats['n']}, mean {split_stats['mean']:.1f}, "
                f"{split_stats['over_max_len']} > max_len"
            ),
        )
    axes.axvline(max_len, color="#C44E52", linewidth=2, label=f"max_len = {max_len}")
    axes.axvline(
        stats["mean_plus_3sd"],
        color="#333333",
        linestyle="--",
        label=f"mean + 3 sigma = {stats['mean_plus_3sd']:.1f} (all splits)",
    )
    axes.set_xlabel(f"text length ({unit}, special tokens included)")
    axes.set_ylabel("density")
    axes.legend(fontsize=8, loc="upper right")
    axes.grid(alpha=0.3)
    axes.set_title(title or f"Text length in {unit}")
    return figure


def label_distribution_figure(
    entities_by_split: Mapping[str, Mapping[str, int]],
    types: Sequence[str] | None = None,
    title: str = "",
) -> Figure:
    """Grouped bars of entities per type and split: counts (left) and share of the
    split's entities (right, comparable across splits of different sizes).

    Splits without any entity (an unlabelled test set) are left out and named in the title.
    """
    labelled = {
        split: counts for split, counts in entities_by_split.items() if sum(counts.values())
    }
    names = list(types) if types is not None else sorted({t for c in labelled.values() for t in c})
    figure = Figure(figsize=(max(8.0, 1.2 + 0.9 * len(names)), 7.0))
    count_axes, share_axes = figure.subplots(2, 1, sharex=True)
    if not labelled or not names:
        _placeholder(count_axes, "no labelled entities")
        _placeholder(share_axes, "no labelled entities")
        return figure
    width = 0.8 / len(labelled)
    for index, (split, counts) in enumerate(labelled.items()):
        total = sum(counts.values())
        offsets = [i - 0.4 + width * (index + 0.5) for i in range(len(names))]
        values = [int(counts.get(name, 0)) for name in names]
        colour = SPLIT_COLOURS.get(split, "#777777")
        count_axes.bar(offsets, values, width=width, color=colour, label=f"{split} (n={total})")
        share_axes.bar(offsets, [v / total for v in values], width=width, color=colour)
    count_axes.set_ylabel("entities")
    count_axes.legend(fontsize=8)
    count_axes.grid(axis="y", alpha=0.3)
    share_axes.set_ylabel("share of the split's entities")
    share_axes.grid(axis="y", alpha=0.3)
    share_axes.set_xticks(range(len(names)), names, rotation=30, ha="right")
    unlabelled = [split for split in entities_by_split if split not in labelled]
    suffix = f" ({', '.join(unlabelled)}: no labels)" if unlabelled else ""
    count_axes.set_title((title or "Entities per type and split") + suffix)
    return figure


def entity_counts(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """``{split: entities_per_type}`` from validation reports (``{split}.report.json``)."""
    return {
        split: {t: int(n) for t, n in report.get("entities_per_type", {}).items()}
        for split, report in reports.items()
    }


def token_lengths(texts: Iterable[str], tokenizer: Any, mode: str) -> list[int]:
    """Tokens per text, special tokens included (:func:`nerflow.text.tokenization.n_tokens`)."""
    from nerflow.text.tokenization import n_tokens

    return [n_tokens(text, tokenizer, mode) for text in texts]
