"""Unit tests of the report building blocks: nerflow.report.plots (figures) and
nerflow.report.leaderboard
(tables). Figures are checked through their artists (titles, ticks, lines, texts), since
saved SVG text is drawn as paths."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from nerflow.data.records import Record, Span
from nerflow.evaluation.errors import confusion
from nerflow.evaluation.scoring import score
from nerflow.report.leaderboard import (
    REFERENCE,
    best_values,
    describe_encoder,
    error_table,
    format_value,
    html_table,
    leaderboard_columns,
    leaderboard_row,
    rank_rows,
    relative_links,
    write_tsv,
)
from nerflow.report.plots import (
    confusion_figure,
    entity_counts,
    label_distribution_figure,
    length_stats,
    per_type_f1_figure,
    read_jsonl,
    save_figure,
    text_lengths_figure,
    token_lengths,
    training_curves_figure,
)

TYPES = ["address", "name", "game"]


def scores_fixture() -> dict:
    gold = [
        Record(
            0,
            "李四光在上海市玩魔兽世界。",
            [Span(0, 2, "name"), Span(4, 6, "address"), Span(8, 11, "game")],
        ),
        Record(1, "王五去北京", [Span(0, 1, "name"), Span(3, 4, "address")]),
    ]
    pred = [
        Record(0, gold[0].text, [Span(0, 2, "name"), Span(4, 6, "name"), Span(8, 9, "game")]),
        Record(1, gold[1].text, [Span(0, 1, "name"), Span(2, 2, "game")]),
    ]
    return score(gold, pred, TYPES) | {"_gold": gold, "_pred": pred}


def texts_of(axes) -> list[str]:
    return [text.get_text() for text in axes.texts]


def legend_of(axes) -> list[str]:
    legend = axes.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


# --------------------------------------------------------------------------- plots


def test_per_type_f1_figure_has_one_bar_per_type_and_marks_micro_macro() -> None:
    scores = scores_fixture()
    axes = per_type_f1_figure(scores, TYPES, title="exp").axes[0]
    assert len(axes.patches) == len(TYPES)
    widths = [patch.get_width() for patch in axes.patches]
    assert widths == pytest.approx([scores["per_type"][t]["f1"] for t in TYPES])
    labels = [label.get_text() for label in axes.get_yticklabels()]
    ticks = dict(zip(axes.get_yticks(), labels, strict=True))
    top_down = [ticks[position] for position in sorted(ticks, reverse=True)]
    assert top_down == ["address (n=2)", "name (n=2)", "game (n=1)"]  # first type on top
    legend = legend_of(axes)
    assert f"micro F1 {scores['micro']['f1']:.3f}" in legend
    assert f"macro F1 {scores['macro_f1']:.3f}" in legend
    assert axes.get_title() == "exp"


def test_per_type_f1_figure_shows_unscored_types_as_zero() -> None:
    axes = per_type_f1_figure({"per_type": {}, "micro": {"f1": 0.0}}, ["x"]).axes[0]
    assert [patch.get_width() for patch in axes.patches] == [0.0]


def test_confusion_figure_writes_counts_and_separates_missed_and_spurious() -> None:
    scores = scores_fixture()
    matrix = confusion(scores["_gold"], scores["_pred"], TYPES)
    axes = confusion_figure(matrix).axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == [*TYPES, "missed"]
    assert [t.get_text() for t in axes.get_yticklabels()] == [*TYPES, "spurious"]
    nonzero = sorted(str(v) for row in matrix.values() for v in row.values() if v)
    assert sorted(texts_of(axes)) == nonzero
    assert matrix["address"]["name"] == 1 and matrix["spurious"]["game"] == 1
    image = axes.images[0].get_array()
    assert image.shape == (len(TYPES) + 1, len(TYPES) + 1)
    assert float(image.max()) <= 1.0


def test_training_curves_mark_best_and_skip_missing_loss(tmp_path: Path) -> None:
    log = tmp_path / "train_log.jsonl"
    rows = [
        {"epoch": 1, "step": 5, "loss": None, "dev_micro_f1": 0.2, "dev_macro_f1": 0.1,
         "dev_clue_macro_f1": 0.15, "best": True},
        {"epoch": 1, "step": 10, "loss": 3.0, "dev_micro_f1": 0.5, "dev_macro_f1": 0.4,
         "dev_clue_macro_f1": 0.45, "best": True},
        {"epoch": 2, "step": 15, "loss": 2.0, "dev_micro_f1": 0.4, "dev_macro_f1": 0.3,
         "dev_clue_macro_f1": 0.35, "best": False},
    ]  # fmt: skip
    log.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", "utf-8")
    assert read_jsonl(log) == rows
    figure = training_curves_figure(read_jsonl(log), title="t")
    loss_axes, f1_axes = figure.axes
    loss_line = loss_axes.lines[0]
    assert list(loss_line.get_xdata()) == [10.0, 15.0]  # the None loss is left out
    f1_lines = [line for line in f1_axes.lines if line.get_label() in ("micro F1", "macro F1")]
    assert len(f1_lines) == 2 and list(f1_lines[0].get_xdata()) == [5.0, 10.0, 15.0]
    assert any(text.startswith("best: step 10, epoch 1") for text in legend_of(f1_axes))
    # two evaluations in epoch 1: the epoch boundary at step 10 is marked
    assert any(list(line.get_xdata()) == [10.0, 10.0] for line in loss_axes.lines[1:])


def test_empty_inputs_give_placeholder_figures(tmp_path: Path) -> None:
    for figure in (
        training_curves_figure([]),
        text_lengths_figure({}, 64),
        label_distribution_figure({"test": {}}),
        per_type_f1_figure({}, []),
    ):
        assert any(axes.texts for axes in figure.axes)
        assert save_figure(figure, tmp_path / "empty.svg").stat().st_size > 0


def test_length_stats() -> None:
    stats = length_stats([2, 4, 4, 4, 5, 5, 7, 9], max_len=6)
    assert stats["mean"] == 5 and stats["std"] == 2
    assert stats["mean_plus_3sd"] == 11
    assert stats["over_max_len"] == 2 and stats["share_over_max_len"] == 0.25
    assert stats["max"] == 9 and stats["n"] == 8
    assert length_stats([], 4)["n"] == 0


def test_text_lengths_figure_marks_max_len_and_mean_plus_3_sigma() -> None:
    lengths = {"train": [10, 12, 14, 100], "dev": [11, 13]}
    axes = text_lengths_figure(lengths, max_len=64, title="lengths").axes[0]
    verticals = {round(line.get_xdata()[0], 3) for line in axes.lines}
    pooled = length_stats([10, 12, 14, 100, 11, 13], 64)
    assert 64 in verticals
    assert round(pooled["mean_plus_3sd"], 3) in verticals
    legend = legend_of(axes)
    assert "train: n=4, mean 34.0, 1 > max_len" in legend
    assert "max_len = 64" in legend
    assert len(axes.patches) == 2  # one histogram per split


def test_token_lengths_count_special_tokens(tokenizer) -> None:
    assert token_lengths(["北京", "上海浙商银行"], tokenizer, "char") == [4, 8]


def test_label_distribution_leaves_out_unlabelled_splits() -> None:
    reports = {
        "train": {"entities_per_type": {"name": 6, "game": 2}},
        "dev": {"entities_per_type": {"name": 1, "game": 1}},
        "test": {"entities_per_type": {}},
    }
    counts = entity_counts(reports)
    figure = label_distribution_figure(counts, ["name", "game"])
    count_axes, share_axes = figure.axes
    assert [patch.get_height() for patch in count_axes.patches] == [6, 2, 1, 1]
    assert [patch.get_height() for patch in share_axes.patches] == [0.75, 0.25, 0.5, 0.5]
    assert "(test: no labels)" in count_axes.get_title()


def test_save_figure_is_reproducible_and_checks_the_format(tmp_path: Path) -> None:
    scores = scores_fixture()
    first = save_figure(per_type_f1_figure(scores, TYPES), tmp_path / "a.svg").read_bytes()
    second = save_figure(per_type_f1_figure(scores, TYPES), tmp_path / "b.svg").read_bytes()
    assert first == second and first.startswith(b"<?xml") and b"<path" in first
    png = save_figure(per_type_f1_figure(scores, TYPES), tmp_path / "a.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="unsupported figure format"):
        save_figure(per_type_f1_figure(scores, TYPES), tmp_path / "a.jpg")


# --------------------------------------------------------------------------- leaderboard


def test_leaderboard_rows_ranked_with_reference_last(tmp_path: Path) -> None:
    scores = scores_fixture()
    better = {**scores, "micro": {**scores["micro"], "f1": 0.9}}
    experiment = {"encoder": "scratch", "scratch": {"layers": 1, "hidden": 32}, "head": "crf",
                  "tokenization": "char", "max_len": 64}  # fmt: skip
    summary = {"train_minutes": 1.23456, "params": 30146, "best_epoch": 2,
               "sentences_per_s": 13.5, "device": "cpu"}  # fmt: skip
    rows = rank_rows(
        [
            leaderboard_row("oracle", {"micro": {"f1": 1.0}}, TYPES, kind=REFERENCE),
            leaderboard_row("b_exp", scores, TYPES, summary, experiment),
            leaderboard_row("a_exp", better, TYPES, summary, experiment),
            leaderboard_row("c_exp", scores, TYPES, summary, experiment),
        ]
    )
    assert [(row["rank"], row["experiment"]) for row in rows] == [
        (1, "a_exp"), (2, "b_exp"), (3, "c_exp"), ("ref", "oracle"),
    ]  # fmt: skip
    assert rows[1]["f1_game"] == scores["per_type"]["game"]["f1"]
    assert rows[1]["encoder"] == "scratch 1x32" and rows[1]["params"] == 30146
    assert rows[-1]["train_minutes"] is None and rows[-1]["encoder"] is None

    columns = leaderboard_columns(TYPES)
    assert columns[:8] == [
        "rank", "experiment", "kind", "micro_precision", "micro_recall", "micro_f1",
        "macro_f1", "clue_macro_f1",
    ]  # fmt: skip
    assert columns[8:11] == ["f1_address", "f1_name", "f1_game"]
    path = tmp_path / "leaderboard.tsv"
    assert write_tsv(path, columns, rows) == 4
    with open(path, encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle, delimiter="\t"))
    assert [line["experiment"] for line in table] == ["a_exp", "b_exp", "c_exp", "oracle"]
    assert table[0]["micro_f1"] == "0.9000" and table[0]["train_minutes"] == "1.23"
    budget = leaderboard_row("d_exp", scores, TYPES, {**summary, "stop_reason": "time_budget"})
    assert budget["stop_reason"] == "time_budget" and "stop_reason" in columns
    assert table[3]["kind"] == "reference" and table[3]["params"] == ""


def test_leaderboard_test_columns_follow_dev_ranking() -> None:
    """A labelled test split adds test columns; dev alone ranks."""
    dev = scores_fixture()
    high_test = {"micro": {"f1": 0.95}, "macro_f1": 0.9, "clue_macro_f1": 0.91}
    low_test = {"micro": {"f1": 0.5}, "macro_f1": 0.4, "clue_macro_f1": 0.41}
    better_dev = {**dev, "micro": {**dev["micro"], "f1": 0.99}}
    rows = rank_rows(
        [
            leaderboard_row("a", dev, TYPES, test_scores=high_test),
            leaderboard_row("b", better_dev, TYPES, test_scores=low_test),
        ]
    )
    assert [row["experiment"] for row in rows] == ["b", "a"]
    assert rows[0]["test_micro_f1"] == 0.5 and rows[1]["test_clue_macro_f1"] == 0.91
    columns = leaderboard_columns(TYPES, test=True)
    assert columns[8:11] == ["test_micro_f1", "test_macro_f1", "test_clue_macro_f1"]
    assert "test_micro_f1" not in leaderboard_columns(TYPES)
    assert best_values(columns, rows)["test_micro_f1"] == 0.95


def test_html_table_escapes_and_highlights_best_experiment_value() -> None:
    rows = [
        {"experiment": "<b>x</b>", "kind": "experiment", "micro_f1": 0.5},
        {"experiment": "y", "kind": "experiment", "micro_f1": 0.7},
        {"experiment": "oracle", "kind": REFERENCE, "micro_f1": 1.0},
    ]
    page = html_table(["experiment", "kind", "micro_f1"], rows, "T & t", note="n")
    assert page.startswith("<!DOCTYPE html>") and "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "T &amp; t" in page
    assert '<td class="best">0.7000</td>' in page
    assert '<tr class="reference">' in page and '<td class="best">1.0000' not in page
    assert page.count("<tr") == 4


def test_html_table_links_the_named_cells_and_relative_links_resolve(tmp_path: Path) -> None:
    rows = [
        {"experiment": "a b", "kind": "experiment"},
        {"experiment": "oracle", "kind": REFERENCE},
    ]
    page_path = tmp_path / "results/leaderboard.html"
    target = tmp_path / "results/a b/plots/error_browser.html"
    target.parent.mkdir(parents=True)
    target.write_text("x", "utf-8")
    links = relative_links({"a b": target}, page_path)
    assert links == {"a b": "a%20b/plots/error_browser.html"}
    page = html_table(["experiment", "kind"], rows, "t", links={**links, "oracle": '"><i>'})
    assert '<td class="text"><a href="a%20b/plots/error_browser.html">a b</a></td>' in page
    assert '<a href="&quot;&gt;&lt;i&gt;">oracle</a>' in page and "<i>" not in page
    plain = html_table(["experiment", "kind"], rows, "t", links=links, link_column="kind")
    assert "<a " not in plain
    from urllib.parse import unquote

    assert (page_path.parent / unquote(links["a b"])).resolve() == target.resolve()
    assert relative_links({"r": "results/r/e.html"}, "results/leaderboard.html") == {
        "r": "r/e.html"
    }


def test_describe_encoder_and_format_value() -> None:
    assert describe_encoder({"encoder": "hfl/chinese-bert-wwm-ext"}) == "hfl/chinese-bert-wwm-ext"
    assert describe_encoder({"encoder": "scratch"}) == "scratch"
    assert format_value(None) == "" and format_value(math.nan) == ""
    assert format_value(True) == "true" and format_value(3) == "3"
    assert format_value(0.123456, "micro_f1") == "0.1235"


def test_error_table_totals_match_the_scorer() -> None:
    scores = scores_fixture()
    columns, rows = error_table(scores["errors"], TYPES)
    assert columns == [
        "type", "type_error", "boundary_error", "boundary_type_error", "spurious", "missed",
        "total",
    ]  # fmt: skip
    assert [row["type"] for row in rows] == [*TYPES, "total"]
    total = rows[-1]
    assert total["total"] == sum(scores["errors"]["by_category"].values()) > 0
    for category in columns[1:-1]:
        assert sum(row[category] for row in rows[:-1]) == total[category]
    by_type = {row["type"]: row for row in rows}
    assert by_type["name"]["type_error"] == 1  # 上海市 predicted as name
    assert by_type["game"]["boundary_error"] == 1 and by_type["game"]["spurious"] == 1
    assert by_type["address"]["missed"] == 1
