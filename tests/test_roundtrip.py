"""Round-trip audit report: gold spans -> tags -> tokens -> restored spans."""

from __future__ import annotations

import pytest

from nerflow.data.records import Record, Span
from nerflow.evaluation.roundtrip import roundtrip_report
from nerflow.text.tagging import SCHEMES

RECORDS = [
    Record(0, "叶老桂博士认为", [Span(0, 2, "name"), Span(3, 4, "position")]),
    Record(1, "ac米兰的 北京 上海", [Span(0, 3, "organization"), Span(6, 7, "address")]),
    Record(2, "在CS1.6中", [Span(2, 5, "game")]),  # "S1.6": inside the piece "cs"
    Record(3, "￥5999", [Span(1, 3, "money")]),  # "599": inside "##99"
    Record(4, "《浙商银行企业信贷部》", [Span(0, 10, "book"), Span(1, 4, "company")]),
    Record(5, "北京 ", [Span(1, 2, "address")]),  # ends on a space
    Record(6, "😀北京１２３ＡＢ", [Span(0, 0, "emoji"), Span(3, 5, "num")]),
    Record(7, "", []),
]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_char_mode_restores_every_representable_span(tokenizer, scheme: str) -> None:
    report = roundtrip_report(RECORDS, tokenizer, "char", None, scheme)
    assert report["records"] == 8 and report["spans_total"] == 11
    assert report["lost_by_reason"] == {
        "nested": 1,
        "inside_word_piece": 0,
        "truncated": 0,
        "dropped_chars": 1,
        "other": 0,
    }
    assert report["lost"] == 2 and report["restored_exactly"] == 9
    assert report["representable"] == 9
    assert report["restored_representable_ratio"] == 1.0
    assert report["spurious"] == 0
    assert {(e["id"], e["surface"], e["reason"]) for e in report["examples"]} == {
        (4, "浙商银行", "nested"),
        (5, "京 ", "dropped_chars"),
    }
    assert (report["mode"], report["scheme"], report["max_len"]) == ("char", scheme, None)


def test_wordpiece_mode_counts_boundaries_inside_pieces(tokenizer) -> None:
    report = roundtrip_report(RECORDS, tokenizer, "wordpiece", None, "BIO")
    assert report["lost_by_reason"] == {
        "nested": 1,
        "inside_word_piece": 3,  # S1.6, 599, and １２３ inside the [UNK] for "１２３ＡＢ"
        "truncated": 0,
        "dropped_chars": 1,
        "other": 0,
    }
    assert report["restored_exactly"] == 6 and report["representable"] == 6
    assert report["restored_representable_ratio"] == 1.0


def test_windows_restore_everything_truncation_loses_what_is_cut(tokenizer) -> None:
    """max_len 6 holds 4 characters: windows (stride 2) cover every text exactly; only
    truncation, asked for, loses spans."""
    windowed = roundtrip_report(RECORDS, tokenizer, "char", 6, "BIOES", stride=2)
    whole = roundtrip_report(RECORDS, tokenizer, "char", None, "BIOES")
    assert windowed["lost_by_reason"] == whole["lost_by_reason"]
    assert windowed["lost_by_reason"]["truncated"] == 0
    assert windowed["restored_exactly"] == whole["restored_exactly"]
    assert windowed["spurious"] == 0 and windowed["stride"] == 2


def test_truncation_is_counted(tokenizer) -> None:
    report = roundtrip_report(RECORDS, tokenizer, "char", 6, "BIOES", truncate=True)
    assert report["lost_by_reason"]["truncated"] == 5
    assert report["lost_by_reason"]["other"] == 0
    assert report["restored_representable_ratio"] == 1.0
    truncated = {e["surface"] for e in report["examples"] if e["reason"] == "truncated"}
    assert truncated == {"博士", "北京", "S1.6", "《浙商银行企业信贷部》", "１２３"}
    assert report["lost_by_reason"]["dropped_chars"] == 1  # "北京 " fits: not truncated


def test_examples_are_capped(tokenizer) -> None:
    report = roundtrip_report(RECORDS, tokenizer, "wordpiece", None, "BIO", max_examples=2)
    assert len(report["examples"]) == 2 and report["lost"] == 5


@pytest.mark.parametrize("scheme", SCHEMES)
def test_oracle_covers_long_texts_through_windows(tokenizer, scheme: str) -> None:
    """A text 6x longer than max_len with dozens of entities: the oracle (the prediction
    chain fed with gold labels) restores every span; truncation, only when asked for,
    keeps just those before the cut."""
    from nerflow.evaluation.roundtrip import oracle_predictions

    unit, units = "叶老桂在北京上海的米兰", 12  # name 0-2, address 4-5 and 6-7, org 9-10
    text = unit * units
    spans = []
    for k in range(units):
        base = k * len(unit)
        spans += [Span(base, base + 2, "name"), Span(base + 4, base + 5, "address")]
        spans += [Span(base + 6, base + 7, "address"), Span(base + 9, base + 10, "org")]
    record = Record("long", text, sorted(spans))
    [oracle] = oracle_predictions([record], tokenizer, "char", 24, 6, scheme)
    assert oracle.spans == record.spans and oracle.text == text
    [cut] = oracle_predictions([record], tokenizer, "char", 24, 6, scheme, truncate=True)
    assert cut.spans == [span for span in record.spans if span.end < 22]  # 22 content tokens
