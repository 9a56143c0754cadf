"""Tests for nerflow.evaluation.scoring: strict, CLUE and seqeval scores, errors and confusion."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from nerflow.data.records import Record, Span
from nerflow.evaluation.errors import (
    ERROR_CATEGORIES,
    ERROR_COLUMNS,
    confusion,
    error_rows,
    write_errors_tsv,
)
from nerflow.evaluation.scoring import score

TYPES = ["name", "address", "game"]


def rec(record_id: int | str, text: str, *spans: tuple[int, int, str]) -> Record:
    return Record(record_id, text, [Span(s, e, t) for s, e, t in spans])


def hand_example() -> tuple[list[Record], list[Record]]:
    """Two records; counts worked out by hand in ``test_strict_hand_computed``."""
    gold = [
        rec(0, "张三去北京玩了很久", (0, 1, "name"), (3, 4, "address")),
        rec(1, "李四和王五在上海", (0, 1, "name"), (3, 4, "name"), (6, 7, "address")),
    ]
    pred = [
        rec(0, "张三去北京玩了很久", (0, 1, "name"), (3, 5, "address")),  # boundary error
        rec(1, "李四和王五在上海", (0, 1, "name"), (3, 4, "address"), (6, 7, "address")),
    ]
    return gold, pred


def test_strict_hand_computed() -> None:
    gold, pred = hand_example()
    result = score(gold, pred, TYPES)
    # name: tp 2, fp 0, fn 1; address: tp 1, fp 2, fn 1; game: nothing at all
    assert result["per_type"]["name"] == {
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(0.8),
        "tp": 2,
        "fp": 0,
        "fn": 1,
        "support": 3,
    }
    address = result["per_type"]["address"]
    assert (address["tp"], address["fp"], address["fn"], address["support"]) == (1, 2, 1, 2)
    assert address["precision"] == pytest.approx(1 / 3)
    assert address["recall"] == pytest.approx(1 / 2)
    assert address["f1"] == pytest.approx(0.4)
    assert result["per_type"]["game"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 0,
        "support": 0,
    }
    assert result["micro"] == {
        "precision": pytest.approx(0.6),
        "recall": pytest.approx(0.6),
        "f1": pytest.approx(0.6),
        "tp": 3,
        "fp": 2,
        "fn": 2,
    }
    assert result["macro_f1"] == pytest.approx((0.8 + 0.4 + 0.0) / 3)
    assert result["seqeval_micro_f1"] == pytest.approx(0.6)
    assert result["n_records"] == 2
    assert result["text_mismatch_lines"] == 0
    assert result["extra_types"] == []
    assert result["errors"]["by_category"] == {
        "type_error": 1,
        "boundary_error": 1,
        "boundary_type_error": 0,
        "spurious": 0,
        "missed": 0,
    }
    assert result["errors"]["by_type"]["address"]["type_error"] == 1
    assert result["errors"]["by_type"]["address"]["boundary_error"] == 1
    assert set(result["errors"]["by_type"]) == set(TYPES)
    json.dumps(result)  # plain, serialisable numbers


def test_empty_and_zero_division() -> None:
    gold = [rec("a", "没有实体"), rec("b", "")]
    pred = [rec("b", ""), rec("a", "没有实体")]  # order does not matter, ids do
    result = score(gold, pred, TYPES, text_mismatch_lines=3)
    assert result["micro"]["f1"] == 0.0
    assert result["macro_f1"] == 0.0
    assert result["clue_macro_f1"] == 0.0
    assert result["seqeval_micro_f1"] == 0.0
    assert result["text_mismatch_lines"] == 3
    assert score([], [], TYPES)["micro"]["f1"] == 0.0
    assert score(gold, pred, [])["macro_f1"] == 0.0


def test_only_predictions_or_only_gold() -> None:
    gold = [rec(0, "张三", (0, 1, "name"))]
    empty = [rec(0, "张三")]
    missed = score(gold, empty, TYPES)
    assert missed["micro"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 1,
    }
    spurious = score(empty, gold, TYPES)
    assert spurious["micro"]["fp"] == 1 and spurious["micro"]["precision"] == 0.0


def test_unconfigured_types_are_reported_but_not_averaged() -> None:
    gold = [rec(0, "张三", (0, 1, "name"))]
    pred = [rec(0, "张三", (0, 1, "person"))]
    result = score(gold, pred, ["name"])
    assert result["extra_types"] == ["person"]
    assert result["per_type"]["person"]["fp"] == 1
    assert result["macro_f1"] == 0.0
    assert list(result["clue"]["per_type"]) == ["name"]


def test_id_sets_must_match() -> None:
    gold = [rec(1, "a"), rec(2, "b")]
    with pytest.raises(ValueError, match=r"\[2\].*\[3\]"):
        score(gold, [rec(1, "a"), rec(3, "b")], TYPES)
    with pytest.raises(ValueError, match="repeat ids"):
        score(gold, [rec(1, "a"), rec(1, "a"), rec(2, "b")], TYPES)


def test_duplicate_spans_count_once() -> None:
    gold = [rec(0, "张三", (0, 1, "name"))]
    pred = [rec(0, "张三", (0, 1, "name"), (0, 1, "name"))]
    result = score(gold, pred, TYPES)
    assert result["micro"]["f1"] == 1.0
    assert result["seqeval_excluded_records"] == 0


# ----------------------------------------------------------------------------- CLUE


def test_clue_repeated_mention_counts_once() -> None:
    gold = [rec(0, "北京和北京", (0, 1, "address"), (3, 4, "address"))]
    pred = [rec(0, "北京和北京", (0, 1, "address"))]
    result = score(gold, pred, TYPES)
    clue = result["clue"]["per_type"]["address"]
    assert (clue["tp"], clue["fp"], clue["fn"]) == (1, 0, 0)
    assert clue["f1"] == 1.0
    assert result["per_type"]["address"]["f1"] == pytest.approx(2 / 3)  # strict sees 1 of 2


def test_clue_is_position_blind() -> None:
    gold = [rec(0, "北京人在北京", (0, 1, "address"))]
    pred = [rec(0, "北京人在北京", (4, 5, "address"))]  # right string, wrong place
    result = score(gold, pred, TYPES)
    assert result["clue"]["per_type"]["address"]["f1"] == 1.0
    assert result["micro"]["f1"] == 0.0


def test_clue_macro_is_plain_mean_without_crash() -> None:
    gold, pred = hand_example()
    result = score(gold, pred, TYPES)
    clue = result["clue"]["per_type"]
    # name: strings {张三} / {张三} and {李四, 王五} / {李四}: tp 2, fp 0, fn 1
    assert (clue["name"]["tp"], clue["name"]["fp"], clue["name"]["fn"]) == (2, 0, 1)
    # address: {北京} vs {北京玩}; {上海} vs {王五, 上海}: tp 1, fp 2, fn 1
    assert (clue["address"]["tp"], clue["address"]["fp"], clue["address"]["fn"]) == (1, 2, 1)
    assert clue["game"]["f1"] == 0.0  # no gold, no pred: the original divides by zero
    expected = (clue["name"]["f1"] + clue["address"]["f1"] + 0.0) / 3
    assert result["clue_macro_f1"] == pytest.approx(expected)
    assert result["clue"]["macro_f1"] == result["clue_macro_f1"]


# ----------------------------------------------------------------------------- seqeval


def random_spans(rng: random.Random, n_chars: int, types: list[str]) -> list[Span]:
    spans: list[Span] = []
    position = 0
    while position < n_chars:
        position += rng.randint(0, 4)
        length = rng.randint(1, 5)
        if position + length > n_chars:
            break
        if rng.random() < 0.6:
            spans.append(Span(position, position + length - 1, rng.choice(types)))
        position += length
    return spans


def random_corpus(seed: int = 0, n: int = 300) -> tuple[list[Record], list[Record]]:
    rng = random.Random(seed)
    gold, pred = [], []
    for index in range(n):
        text = "".join(rng.choice("北京上海张三公司游戏电影书") for _ in range(rng.randint(0, 40)))
        gold_spans = random_spans(rng, len(text), TYPES)
        if rng.random() < 0.5:  # mostly right: drop some, retype some
            pred_spans = [
                Span(s.start, s.end, rng.choice(TYPES) if rng.random() < 0.2 else s.label)
                for s in gold_spans
                if rng.random() < 0.8
            ]
        else:
            pred_spans = random_spans(rng, len(text), TYPES)
        gold.append(Record(index, text, gold_spans))
        pred.append(Record(index, text, pred_spans))
    return gold, pred


def test_seqeval_equals_strict_micro_on_random_spans() -> None:
    gold, pred = random_corpus()
    result = score(gold, pred, TYPES)
    assert result["seqeval_excluded_records"] == 0
    assert 0.0 < result["micro"]["f1"] < 1.0
    assert result["seqeval_micro_f1"] == pytest.approx(result["micro"]["f1"], abs=1e-12)
    for size in range(1, 30):  # also on many small corpora
        assert score(gold[:size], pred[:size], TYPES)["seqeval_micro_f1"] == pytest.approx(
            score(gold[:size], pred[:size], TYPES)["micro"]["f1"], abs=1e-12
        )


def test_seqeval_disagreement_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import seqeval.metrics

    monkeypatch.setattr(seqeval.metrics, "f1_score", lambda *args, **kwargs: 0.25)
    gold, pred = hand_example()
    with pytest.raises(AssertionError, match=r"0\.25.*0\.6"):
        score(gold, pred, TYPES)


def test_nested_records_are_excluded_from_seqeval_only() -> None:
    text = "读《北京公司与上海公司》"
    nested_gold = rec(
        "nested", text, (1, 11, "book"), (2, 5, "name"), (7, 10, "name")
    )  # a title containing two names
    nested_pred = rec("nested", text, (2, 5, "name"))
    flat_gold = rec("flat", "张三去北京", (0, 1, "name"), (3, 4, "address"))
    flat_pred = rec("flat", "张三去北京", (0, 1, "name"))
    overlap_pred = rec("overlap_pred", "张三去北京", (0, 1, "name"), (1, 2, "address"))
    overlap_gold = rec("overlap_pred", "张三去北京", (0, 1, "name"))
    result = score(
        [nested_gold, flat_gold, overlap_gold], [nested_pred, flat_pred, overlap_pred], TYPES
    )
    assert result["seqeval_excluded_records"] == 2
    assert result["seqeval_excluded_ids"] == ["nested", "overlap_pred"]
    # strict micro on everything: tp 3, fp 1, fn 3
    assert (result["micro"]["tp"], result["micro"]["fp"], result["micro"]["fn"]) == (3, 1, 3)
    # seqeval compared on the flat record only: tp 1, fp 0, fn 1
    assert result["seqeval_micro_f1"] == pytest.approx(2 / 3)
    assert result["seqeval_strict_micro_f1"] == pytest.approx(2 / 3)


def test_out_of_text_prediction_is_excluded_from_seqeval() -> None:
    gold = [rec(0, "张三", (0, 1, "name"))]
    pred = [rec(0, "张三", (1, 5, "name"))]
    result = score(gold, pred, TYPES)
    assert result["seqeval_excluded_ids"] == [0]
    assert result["micro"]["fp"] == 1


# ----------------------------------------------------------------------------- errors


def test_each_error_category() -> None:
    text = "张三在北京大学读书看电影"
    gold = [
        rec(
            0,
            text,
            (0, 1, "name"),  # predicted as address at same place: type_error
            (3, 6, "address"),  # predicted 3..4 address: boundary_error
            (9, 11, "game"),  # predicted 10..11 name: boundary_type_error
        ),
        rec(1, "王五", (0, 1, "name")),  # not predicted: missed
        rec(2, "李四", (0, 1, "name")),  # exact: no error
    ]
    pred = [
        rec(0, text, (0, 1, "address"), (3, 4, "address"), (7, 8, "game"), (10, 11, "name")),
        rec(1, "王五"),
        rec(2, "李四", (0, 1, "name")),
    ]
    rows = error_rows(gold, pred)
    assert [(r["id"], r["category"]) for r in rows] == [
        (0, "type_error"),
        (0, "boundary_error"),
        (0, "spurious"),
        (0, "boundary_type_error"),
        (1, "missed"),
    ]
    assert rows[0] == {
        "id": 0,
        "category": "type_error",
        "gold_type": "name",
        "gold_start": 0,
        "gold_end": 1,
        "gold_text": "张三",
        "pred_type": "address",
        "pred_start": 0,
        "pred_end": 1,
        "pred_text": "张三",
    }
    assert rows[1]["gold_text"] == "北京大学" and rows[1]["pred_text"] == "北京"
    assert rows[2]["gold_type"] is None and rows[2]["pred_text"] == "读书"
    assert rows[3]["gold_type"] == "game" and rows[3]["pred_type"] == "name"
    assert rows[4]["pred_type"] is None and rows[4]["gold_text"] == "王五"

    errors = score(gold, pred, TYPES)["errors"]
    assert errors["by_category"] == dict.fromkeys(ERROR_CATEGORIES, 1)
    assert errors["by_type"]["address"]["type_error"] == 1  # under the predicted type
    assert errors["by_type"]["address"]["boundary_error"] == 1
    assert errors["by_type"]["game"]["spurious"] == 1
    assert errors["by_type"]["name"]["boundary_type_error"] == 1
    assert errors["by_type"]["name"]["missed"] == 1  # under the gold type


def test_split_prediction_explains_gold_once() -> None:
    gold = [rec(0, "北京大学", (0, 3, "address"))]
    pred = [rec(0, "北京大学", (0, 1, "address"), (2, 3, "address"))]
    rows = error_rows(gold, pred)
    assert [r["category"] for r in rows] == ["boundary_error", "boundary_error"]


def test_error_counts_match_strict_counts_on_random_spans() -> None:
    gold, pred = random_corpus(seed=1)
    result = score(gold, pred, TYPES)
    by_type = result["errors"]["by_type"]
    pred_side = [c for c in ERROR_CATEGORIES if c != "missed"]
    for entity_type in TYPES:
        # every false positive gets exactly one prediction-side category
        assert (
            sum(by_type[entity_type][c] for c in pred_side)
            == (result["per_type"][entity_type]["fp"])
        )
        # missed gold spans are false negatives (some fn are explained by a prediction)
        assert by_type[entity_type]["missed"] <= result["per_type"][entity_type]["fn"]


def test_write_errors_tsv(tmp_path: Path) -> None:
    gold, pred = hand_example()
    rows = error_rows(gold, pred) + [
        {
            "id": 5,
            "category": "missed",
            "gold_type": "name",
            "gold_start": 0,
            "gold_end": 1,
            "gold_text": "王五",
            "pred_type": None,
            "pred_start": None,
            "pred_end": None,
            "pred_text": None,
        }
    ]
    path = tmp_path / "errors.tsv"
    assert write_errors_tsv(path, rows) == 3
    with open(path, encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle, delimiter="\t"))
    assert tuple(table[0]) == ERROR_COLUMNS
    assert table[1] == [
        "0",
        "boundary_error",
        "address",
        "3",
        "4",
        "北京",
        "address",
        "3",
        "5",
        "北京玩",
    ]
    assert table[2][:2] == ["1", "type_error"]
    assert table[3] == ["5", "missed", "name", "0", "1", "王五", "", "", "", ""]
    import pandas as pd

    frame = pd.read_csv(path, sep="\t")
    assert list(frame.columns) == list(ERROR_COLUMNS)
    assert len(frame) == 3
    empty = tmp_path / "empty.tsv"
    assert write_errors_tsv(empty, []) == 0
    assert empty.read_text(encoding="utf-8") == "\t".join(ERROR_COLUMNS) + "\n"


# ----------------------------------------------------------------------------- confusion


def test_confusion_counts() -> None:
    text = "张三在北京大学读书看电影"
    gold = [
        rec(0, text, (0, 1, "name"), (3, 6, "address"), (9, 11, "game")),
        rec(1, "王五", (0, 1, "name")),
    ]
    pred = [
        rec(0, text, (0, 1, "address"), (3, 4, "address"), (7, 8, "game"), (10, 11, "name")),
        rec(1, "王五", (0, 1, "name")),
    ]
    matrix = confusion(gold, pred, TYPES)
    assert set(matrix) == {*TYPES, "spurious"}
    assert all(set(row) == {*TYPES, "missed"} for row in matrix.values())
    assert matrix["name"]["address"] == 1
    assert matrix["address"]["address"] == 1  # boundary mismatch, right type
    assert matrix["game"]["name"] == 1
    assert matrix["name"]["name"] == 1
    assert matrix["spurious"]["game"] == 1
    assert sum(sum(row.values()) for row in matrix.values()) == 5
    # a gold span overlapped by two predictions pairs with one, the other is spurious
    split = confusion(
        [rec(0, "北京大学", (0, 3, "address"))],
        [rec(0, "北京大学", (0, 1, "address"), (2, 3, "name"))],
        TYPES,
    )
    assert split["address"]["address"] == 1 and split["spurious"]["name"] == 1
    assert split["address"]["missed"] == 0
    missed = confusion([rec(0, "王五", (0, 1, "name"))], [rec(0, "王五")], TYPES)
    assert missed["name"]["missed"] == 1


# ----------------------------------------------------------------------------- real data

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "cluener" / "dev.json"  # ../shared next to the repo
CLUENER_TYPES = [
    "address",
    "book",
    "company",
    "game",
    "government",
    "movie",
    "name",
    "organization",
    "position",
    "scene",
]


def test_dev_against_itself_is_perfect() -> None:
    from nerflow.data.cluener import record_from_json

    if not DEV.is_file():
        pytest.skip(f"real-data test: CLUENER dev set not found at {DEV} (../shared from the repo)")
    with open(DEV, encoding="utf-8") as handle:
        records = [record_from_json(json.loads(line), i) for i, line in enumerate(handle)]
    result = score(records, records, CLUENER_TYPES)
    assert result["micro"]["f1"] == 1.0
    assert result["macro_f1"] == 1.0
    assert result["clue_macro_f1"] == 1.0
    assert result["seqeval_micro_f1"] == 1.0
    assert all(v["f1"] == 1.0 for v in result["per_type"].values())
    assert all(v["f1"] == 1.0 for v in result["clue"]["per_type"].values())
    assert sum(result["errors"]["by_category"].values()) == 0
    assert result["n_records"] == 1343
