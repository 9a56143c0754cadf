"""Tests for nerflow.data.textcheck: predictions must index the original source text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerflow.data.cluener import write_records
from nerflow.data.records import Record, Span, spans_to_label
from nerflow.data.textcheck import REASONS, TextMismatchError, assert_clean, check_predictions

RECORDS = [
    Record(0, "浙商银行企业信贷部叶老桂博士", [Span(0, 3, "company"), Span(9, 11, "name")]),
    Record(1, "AC米兰在CS1.6比赛中", [Span(0, 3, "organization"), Span(5, 9, "game")]),
    Record(2, "北京是中国的首都", [Span(0, 1, "address")]),
    Record(3, "没有实体", []),
]


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.json"
    write_records(path, RECORDS)
    return path


def write_lines(path: Path, objects: list[object]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for obj in objects:
            text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
            handle.write(text + "\n")
    return path


def clean_objects() -> list[dict]:
    return [record.to_json() for record in RECORDS]


def decode_like_tokenizer(text: str) -> str:
    """What ``tokenizer.decode`` gives back: lower-cased, spaces between pieces."""
    return " ".join(text.lower())


def test_clean_file_passes(source: Path, tmp_path: Path) -> None:
    predictions = write_lines(tmp_path / "pred.json", clean_objects())
    report = check_predictions(source, predictions)
    assert report["mismatched_lines"] == 0
    assert report["by_reason"] == dict.fromkeys(REASONS, 0)
    assert report["examples"] == []
    assert report["lines_source"] == report["lines_pred"] == report["records_checked"] == 4
    assert report["source"] == str(source) and report["predictions"] == str(predictions)
    json.dumps(report)
    assert_clean(report)


def test_without_id_and_text_aligns_by_line(source: Path, tmp_path: Path) -> None:
    objects = [{"label": obj["label"]} for obj in clean_objects()]
    objects[3] = {"label": {}}
    report = check_predictions(source, write_lines(tmp_path / "pred.json", objects))
    assert report["mismatched_lines"] == 0


def test_blank_lines_are_skipped(source: Path, tmp_path: Path) -> None:
    path = tmp_path / "pred.json"
    write_lines(path, [*clean_objects()[:2], "", *clean_objects()[2:]])
    report = check_predictions(source, path)
    assert report["mismatched_lines"] == 0 and report["lines_pred"] == 4


def test_decoded_text_with_shifted_spans_is_caught(source: Path, tmp_path: Path) -> None:
    objects = []
    for record in RECORDS:
        decoded = decode_like_tokenizer(record.text)
        # the buggy predictor finds each entity in the decoded text: every offset shifts
        spans = []
        for span in record.spans:
            surface = decode_like_tokenizer(span.surface(record.text))
            start = decoded.index(surface)
            spans.append(Span(start, start + len(surface) - 1, span.label))
        objects.append({"id": record.id, "text": decoded, "label": spans_to_label(decoded, spans)})
    predictions = write_lines(tmp_path / "pred.json", objects)
    report = check_predictions(source, predictions)
    assert report["mismatched_lines"] == 4
    assert report["mismatched_line_numbers"] == [1, 2, 3, 4]
    assert report["by_reason"]["text_mismatch"] == 4
    # lines 1-3 each have a wrong span; lines 1 and 2 also one past the end of the text
    assert report["by_reason"]["span_key_mismatch"] == 3
    assert report["by_reason"]["span_out_of_range"] == 2
    assert report["examples"][0].startswith(f"{predictions}:1: text_mismatch: ")
    assert "at char 1" in report["examples"][0]
    assert any(e.startswith(f"{predictions}:2: text_mismatch: ") for e in report["examples"])
    assert "at char 0" in next(e for e in report["examples"] if ":2: text_mismatch" in e)
    with pytest.raises(TextMismatchError) as caught:
        assert_clean(report)
    message = str(caught.value)
    assert str(predictions) in message
    assert "lines: 1, 2, 3, 4" in message
    assert "text_mismatch=4" in message


def test_shifted_spans_with_original_text_are_caught(source: Path, tmp_path: Path) -> None:
    objects = clean_objects()
    shifted = [Span(s.start + 1, s.end + 1, s.label) for s in RECORDS[0].spans]
    objects[0]["label"] = {  # keys say the right entity, offsets point one char later
        s.label: {s.surface(RECORDS[0].text): [[t.start, t.end]]}
        for s, t in zip(RECORDS[0].spans, shifted, strict=True)
    }
    report = check_predictions(source, write_lines(tmp_path / "pred.json", objects))
    assert report["mismatched_line_numbers"] == [1]
    assert report["by_reason"]["span_key_mismatch"] == 1
    assert report["by_reason"]["text_mismatch"] == 0
    assert len(report["examples"]) == 2  # one per wrong span, one line counted


def test_id_misorder(source: Path, tmp_path: Path) -> None:
    objects = clean_objects()
    objects[1], objects[2] = objects[2], objects[1]
    report = check_predictions(source, write_lines(tmp_path / "pred.json", objects))
    assert report["mismatched_line_numbers"] == [2, 3]
    assert report["by_reason"]["id_mismatch"] == 2
    assert "id 2 where source line 2 has id 1 (at source line 3)" in report["examples"][0]

    only_ids = clean_objects()
    only_ids[0]["id"] = 99
    report = check_predictions(source, write_lines(tmp_path / "pred2.json", only_ids))
    assert report["by_reason"]["id_mismatch"] == 1
    assert report["by_reason"]["text_mismatch"] == 0
    assert "(not in source)" in report["examples"][0]


def test_span_problems(source: Path, tmp_path: Path) -> None:
    objects = clean_objects()
    objects[0]["label"]["company"] = {"浙商银": [[0, 3]]}  # key mismatch
    objects[1]["label"] = {"game": {"赛中": [[12, 13]]}}  # past the end (length 13)
    objects[2]["label"] = {"address": {"北京": [[1, 0]], "x": [[0]], "y": [["0", 1]]}}
    objects[3]["label"] = ["not", "a", "mapping"]
    report = check_predictions(source, write_lines(tmp_path / "pred.json", objects))
    assert report["mismatched_line_numbers"] == [1, 2, 3, 4]
    by_reason = report["by_reason"]
    assert by_reason["span_key_mismatch"] == 1
    assert by_reason["span_out_of_range"] == 1
    assert by_reason["span_reversed"] == 1
    assert by_reason["bad_span"] == 1  # one line, two bad spans
    assert by_reason["bad_label"] == 1
    assert "covers '浙商银行' but its key is '浙商银'" in report["examples"][0]


def test_malformed_json_and_missing_label(source: Path, tmp_path: Path) -> None:
    objects: list[object] = clean_objects()
    objects[1] = '{"id": 1, "text": '
    objects[2] = {"id": 2, "text": RECORDS[2].text}
    objects[3] = [1, 2]
    report = check_predictions(source, write_lines(tmp_path / "pred.json", objects))
    assert report["mismatched_line_numbers"] == [2, 3, 4]
    assert report["by_reason"]["malformed_json"] == 2
    assert report["by_reason"]["bad_label"] == 1


def test_line_count_mismatch(source: Path, tmp_path: Path) -> None:
    shorter = check_predictions(source, write_lines(tmp_path / "short.json", clean_objects()[:3]))
    assert shorter["lines_pred"] == 3 and shorter["records_checked"] == 3
    assert shorter["by_reason"]["missing_line"] == 1
    assert shorter["mismatched_line_numbers"] == [4]
    assert "source line 4 (id 3) has no prediction" in shorter["examples"][0]

    extra = {"id": 4, "text": "多余", "label": {}}
    longer = check_predictions(
        source, write_lines(tmp_path / "long.json", [*clean_objects(), extra])
    )
    assert longer["by_reason"]["extra_line"] == 1
    assert longer["mismatched_line_numbers"] == [5]
    for report in (shorter, longer):  # never tolerated, whatever the threshold
        with pytest.raises(TextMismatchError, match="lines: [35] predicted"):
            assert_clean(report, max_mismatches=10)


def test_threshold(source: Path, tmp_path: Path) -> None:
    objects = clean_objects()
    objects[2]["text"] = "北京是中国的首府"
    predictions = write_lines(tmp_path / "pred.json", objects)
    report = check_predictions(source, predictions)
    assert report["mismatched_lines"] == 1
    assert "at char 7" in report["examples"][0]
    assert_clean(report, max_mismatches=1)
    with pytest.raises(TextMismatchError) as caught:
        assert_clean(report, max_mismatches=0)
    message = str(caught.value)
    assert f"{predictions}:3: text_mismatch" in message
    assert "text_mismatch=1" in message and "allowed: 0" in message
    assert isinstance(caught.value, ValueError)


def test_examples_are_capped(tmp_path: Path) -> None:
    records = [Record(i, "张三", [Span(0, 1, "name")]) for i in range(30)]
    source = tmp_path / "source.json"
    write_records(source, records)
    bad = [{"id": r.id, "text": "张 三", "label": {}} for r in records]
    report = check_predictions(source, write_lines(tmp_path / "pred.json", bad))
    assert report["mismatched_lines"] == 30
    assert len(report["examples"]) == 20


def test_invalid_source_raises(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "source.json", ['{"id": 0, "text": "a"}', "{broken"])
    predictions = write_lines(tmp_path / "pred.json", [{"label": {}}, {"label": {}}])
    with pytest.raises(ValueError, match="source.json:2"):
        check_predictions(source, predictions)
