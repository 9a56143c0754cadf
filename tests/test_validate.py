"""Tests of the validation stage (``nerflow.data.validate``) on small inline fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerflow.data.records import Span
from nerflow.data.rejections import ValidationError, check_or_raise, write_rejected
from nerflow.data.spans import REASONS, resolve_overlaps
from nerflow.data.validate import load_record_schema, validate_file

LABELS = ["book", "company", "name"]
GOOD = {"text": "叶老桂博士认为", "label": {"name": {"叶老桂": [[0, 2]]}}}
GOOD_LINE = json.dumps(GOOD, ensure_ascii=False)
# CLUENER train line 1507: a book title holding two company names (nested spans).
NESTED = {
    "text": "据了解，日前有媒体上刊发了题为《招商银行：投资永隆银行浮亏逾百亿港元》的文章，",
    "label": {
        "book": {"《招商银行：投资永隆银行浮亏逾百亿港元》": [[15, 34]]},
        "company": {"招商银行": [[16, 19]], "永隆银行": [[23, 26]]},
    },
}
BOOK = "book[15, 34] '《招商银行：投资永隆银行浮亏逾百亿港元》'"


def write_lines(path: Path, lines: list[str | bytes], newline: bytes = b"\n") -> Path:
    """Write raw lines (str is UTF-8 encoded, bytes are written as they are)."""
    encoded = [line.encode("utf-8") if isinstance(line, str) else line for line in lines]
    path.write_bytes(b"".join(line + newline for line in encoded))
    return path


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


# (kind, bad line, exact reason); each case is put on line 2 between two good lines.
BAD_LINES = [
    (
        "invalid_utf8",
        b'{"text": "\xff\xfe", "label": {}}',
        "invalid UTF-8: byte 0xff at byte 10 of the line (invalid start byte)",
    ),
    ("not_json", "this is not json", "not valid JSON: Expecting value (column 1)"),
    (
        "duplicate_key",
        '{"text": "叶老桂", "label": {"name": {"叶老桂": [[0, 2]]}, "name": {}}}',
        "duplicate JSON key 'name' (the earlier value would be lost)",
    ),
    (
        "schema",
        dumps({"text": "叶老桂", "label": {}, "extra": 1}),
        "schema: Additional properties are not allowed ('extra' was unexpected) at $",
    ),
    (
        "schema",
        dumps({"text": 5, "label": {}}),
        "schema: 5 is not of type 'string' at $.text",
    ),
    (
        "schema",
        dumps({"text": "叶老桂", "label": {"name": {"叶老桂": [[0]]}}}),
        "schema: [0] is too short at $.label.name['叶老桂'][0]",
    ),
    ("schema", dumps(["叶老桂"]), "schema: ['叶老桂'] is not of type 'object' at $"),
    (
        "invalid_text",
        '{"text": "\\ud800abc", "label": {}}',
        "text is not encodable as UTF-8 (surrogates not allowed)",
    ),
    ("empty_text", dumps({"text": "", "label": {}}), "empty text"),
    ("empty_text", dumps({"text": "  \u3000", "label": {}}), "whitespace-only text"),
    ("missing_label", dumps({"text": "叶老桂"}), "missing label"),
    (
        "span_out_of_range",
        dumps({"text": "叶老桂", "label": {"name": {"叶老桂": [[0, 3]]}}}),
        "span name[0, 3] of '叶老桂' is outside the text (length 3)",
    ),
    (
        "span_reversed",
        dumps({"text": "叶老桂", "label": {"name": {"叶老桂": [[2, 0]]}}}),
        "span name[2, 0] of '叶老桂' has start > end",
    ),
    (
        "span_key_mismatch",
        dumps({"text": "叶老桂博士", "label": {"name": {"叶老桂": [[1, 3]]}}}),
        "span name[1, 3] covers '老桂博' but its key is '叶老桂'",
    ),
    (
        "unknown_type",
        dumps({"text": "叶老桂", "label": {"person": {"叶老桂": [[0, 2]]}}}),
        "unknown entity type 'person' (expected one of: book, company, name)",
    ),
    (
        "overlap",
        dumps(
            {"text": "叶老桂", "label": {"name": {"叶老桂": [[0, 2]]}, "book": {"叶老": [[0, 1]]}}}
        ),
        "overlapping spans: book[0, 1] '叶老' is inside name[0, 2] '叶老桂'",
    ),
    (
        "duplicate_id",
        dumps({"id": 0, "text": "叶老桂", "label": {}}),
        "duplicate id 0 (first on line 1)",
    ),
]
BAD_IDS = [f"{kind}-{i}" for i, (kind, _, _) in enumerate(BAD_LINES)]


def bad_file(tmp_path: Path, line: str | bytes) -> Path:
    return write_lines(tmp_path / "train.json", [GOOD_LINE, line, GOOD_LINE])


@pytest.mark.parametrize(("kind", "line", "reason"), BAD_LINES, ids=BAD_IDS)
def test_bad_line_fails_with_file_line_reason(
    tmp_path: Path, kind: str, line: str | bytes, reason: str
) -> None:
    path = bad_file(tmp_path, line)
    result = validate_file(path, split="train", labels=LABELS)
    with pytest.raises(ValidationError) as caught:
        check_or_raise(result, path, "fail")
    assert caught.value.errors == [f"{path}:2: {reason}"]
    message = str(caught.value)
    assert f"{path}:2: {reason}" in message.splitlines()
    assert "1 invalid record(s) of 3 lines" in message.splitlines()[0]


@pytest.mark.parametrize(("kind", "line", "reason"), BAD_LINES, ids=BAD_IDS)
def test_bad_line_skipped_counted_and_written(
    tmp_path: Path, kind: str, line: str | bytes, reason: str
) -> None:
    path = bad_file(tmp_path, line)
    result = validate_file(path, split="train", labels=LABELS)
    check_or_raise(result, path, "skip")  # returns normally
    assert result.report["lines"] == 3
    assert result.report["records"] == 2
    assert result.report["rejected"] == 1
    assert result.report["rejected_by_reason"] == {kind: 1}
    assert [record.id for record in result.records] == [0, 2]
    assert result.report["entities"] == 2

    out = tmp_path / "rejected.jsonl"
    assert write_rejected(out, result.rejected) == 1
    (written,) = [json.loads(row) for row in out.read_text(encoding="utf-8").splitlines()]
    assert written["line"] == 2
    assert written["reasons"] == [reason]
    assert written["kinds"] == [kind]
    expected_raw = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes) else line
    assert written["raw"] == expected_raw


def test_good_file_report(tmp_path: Path) -> None:
    second = {"text": "浙商银行企业信贷部", "label": {"company": {"浙商银行": [[0, 3]]}}}
    path = write_lines(tmp_path / "dev.json", [GOOD_LINE, dumps(second)])
    result = validate_file(path, split="dev", labels=LABELS)
    check_or_raise(result, path, "fail")
    assert result.rejected == [] and result.warnings == []
    assert result.records[1].spans == [Span(0, 3, "company")]
    assert result.report == {
        "file": str(path),
        "split": "dev",
        "lines": 2,
        "records": 2,
        "rejected": 0,
        "rejected_by_reason": {},
        "entities": 2,
        "entities_per_type": {"company": 1, "name": 1},
        "warnings": {},
        "spans_dropped_overlap": 0,
        "records_changed": 0,
        "spans_dropped": 0,
        "labels": LABELS,
        "chars_mean": 8.0,
        "chars_max": 9,
    }


def test_multiple_errors_listed_all_at_once(tmp_path: Path) -> None:
    many = {
        "text": "叶老桂博士",
        "label": {"person": {"叶老桂": [[0, 2]]}, "name": {"博士": [[2, 3]], "叶": [[9, 9]]}},
    }
    path = write_lines(
        tmp_path / "train.json", [GOOD_LINE, "{oops", GOOD_LINE, dumps(many), dumps({"text": ""})]
    )
    result = validate_file(path, split="train", labels=LABELS)
    with pytest.raises(ValidationError) as caught:
        check_or_raise(result, path, "fail")
    assert caught.value.errors == [
        f"{path}:2: not valid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:4: unknown entity type 'person' (expected one of: book, company, name); "
        "span name[2, 3] covers '桂博' but its key is '博士'; "
        "span name[9, 9] of '叶' is outside the text (length 5)",
        f"{path}:5: empty text; missing label",
    ]
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{path}: 3 invalid record(s) of 5 lines")
    assert lines[1:] == caught.value.errors
    line4 = result.rejected[1]
    assert line4.kinds == ["unknown_type", "span_key_mismatch", "span_out_of_range"]
    assert result.report["rejected_by_reason"] == {
        "empty_text": 1,
        "missing_label": 1,
        "not_json": 1,
        "span_key_mismatch": 1,
        "span_out_of_range": 1,
        "unknown_type": 1,
    }


def test_bom_crlf_and_blank_lines_accepted_with_warnings(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    write_lines(path, [b"\xef\xbb\xbf" + GOOD_LINE.encode(), b"", GOOD_LINE.encode()], b"\r\n")
    result = validate_file(path, split="train", labels=LABELS)
    check_or_raise(result, path, "fail")
    assert [record.id for record in result.records] == [0, 2]  # blank line keeps numbering
    assert all(record.text == GOOD["text"] for record in result.records)
    assert result.report["lines"] == 3
    assert result.report["warnings"] == {"blank_line": 1, "bom": 1, "crlf": 3}
    assert f"{path}:1: UTF-8 byte order mark at start of file (stripped)" in result.warnings
    assert f"{path}:2: blank line skipped" in result.warnings
    assert f"{path}: 3 of 3 lines end with CRLF (accepted)" in result.warnings


def test_empty_label_is_valid(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "train.json", [dumps({"text": "我在北京", "label": {}})])
    result = validate_file(path, split="train", labels=LABELS)
    assert result.rejected == []
    assert result.records[0].spans == []
    assert result.report["entities"] == 0


def test_test_split_records_with_ids(tmp_path: Path) -> None:
    lines = [dumps({"id": 10, "text": "我在北京"}), dumps({"id": "a-1", "text": "上海"})]
    path = write_lines(tmp_path / "test.json", lines)
    result = validate_file(path, split="test", labels=LABELS, require_labels=False)
    assert result.rejected == []
    assert [(record.id, record.spans) for record in result.records] == [(10, []), ("a-1", [])]
    assert result.report["split"] == "test"
    strict = validate_file(path, split="test", labels=LABELS)
    assert [rejection.kinds for rejection in strict.rejected] == [["missing_label"]] * 2


def test_ids_fall_back_to_line_index_and_duplicates_rejected(tmp_path: Path) -> None:
    lines = [
        dumps({"id": 1, "text": "我"}),
        dumps({"text": "在"}),
        dumps({"id": "x", "text": "京"}),
    ]
    lines += [dumps({"id": "x", "text": "沪"}), dumps({"id": 7.0, "text": "浙"})]
    path = write_lines(tmp_path / "test.json", lines)
    result = validate_file(path, split="test", labels=None, require_labels=False)
    assert [record.id for record in result.records] == [1, "x", 7]
    assert isinstance(result.records[-1].id, int)
    assert [rejection.format(path) for rejection in result.rejected] == [
        f"{path}:2: duplicate id 1 (first on line 1)",
        f"{path}:4: duplicate id 'x' (first on line 3)",
    ]


def test_unknown_type_only_checked_when_labels_given(tmp_path: Path) -> None:
    record = {"text": "叶老桂", "label": {"person": {"叶老桂": [[0, 2]]}}}
    path = write_lines(tmp_path / "dev.json", [dumps(record)])
    assert validate_file(path, split="dev", labels=None).rejected == []
    (rejection,) = validate_file(path, split="dev", labels=["name"]).rejected
    assert rejection.kinds == ["unknown_type"]
    assert rejection.reason == "unknown entity type 'person' (expected one of: name)"


def test_duplicate_span_deduplicated_with_warning(tmp_path: Path) -> None:
    record = {"text": "叶老桂博士", "label": {"name": {"叶老桂": [[0, 2], [0, 2]]}}}
    path = write_lines(tmp_path / "train.json", [dumps(record)])
    result = validate_file(path, split="train", labels=LABELS)
    assert result.records[0].spans == [Span(0, 2, "name")]
    assert result.report["warnings"] == {"duplicate_span": 1}
    assert result.warnings == [f"{path}:1: duplicate span name[0, 2] '叶老桂' removed"]


def test_nested_spans_fail_policy(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "train.json", [GOOD_LINE, dumps(NESTED)])
    result = validate_file(path, split="train", labels=LABELS, overlap_policy="fail")
    with pytest.raises(ValidationError) as caught:
        check_or_raise(result, path, "fail")
    assert caught.value.errors == [
        f"{path}:2: overlapping spans: {BOOK} contains company[16, 19] '招商银行'; "
        f"overlapping spans: {BOOK} contains company[23, 26] '永隆银行'"
    ]
    assert result.report["rejected_by_reason"] == {"overlap": 1}


@pytest.mark.parametrize("policy", ["keep_longest", "keep_first"])
def test_nested_spans_keep_policies(tmp_path: Path, policy: str) -> None:
    path = write_lines(tmp_path / "train.json", [GOOD_LINE, dumps(NESTED)])
    result = validate_file(path, split="train", labels=LABELS, overlap_policy=policy)
    check_or_raise(result, path, "fail")
    assert result.records[1].spans == [Span(15, 34, "book")]
    assert result.report["spans_dropped_overlap"] == 2
    assert result.report["records_changed"] == 1 and result.report["spans_dropped"] == 2
    assert result.report["warnings"] == {"overlap_resolved": 1}
    assert result.report["entities_per_type"] == {"book": 1, "name": 1}
    assert result.warnings == [
        f"{path}:2: dropped overlapping span company[16, 19] '招商银行' ({policy})",
        f"{path}:2: dropped overlapping span company[23, 26] '永隆银行' ({policy})",
    ]


def test_keep_policies_differ_on_crossing_spans() -> None:
    spans = [Span(0, 1, "name"), Span(1, 4, "company"), Span(5, 6, "name")]
    assert resolve_overlaps(spans, "keep_longest") == (
        [Span(1, 4, "company"), Span(5, 6, "name")],
        [Span(0, 1, "name")],
    )
    assert resolve_overlaps(spans, "keep_first") == (
        [Span(0, 1, "name"), Span(5, 6, "name")],
        [Span(1, 4, "company")],
    )
    assert resolve_overlaps([spans[0], spans[0]], "keep_first") == ([spans[0]], [])
    # Equal length: earliest start wins; a span not touching the kept one survives.
    chain = [Span(0, 2, "a"), Span(2, 4, "b"), Span(4, 6, "c")]
    assert resolve_overlaps(chain, "keep_longest") == (
        [Span(0, 2, "a"), Span(4, 6, "c")],
        [Span(2, 4, "b")],
    )


def test_span_kinds_are_the_span_reasons() -> None:
    span_kinds = {kind for kind, _, _ in BAD_LINES if kind.startswith("span_") or kind == "overlap"}
    assert span_kinds == {name for name, _ in REASONS}


def test_train_labels_enforced_on_dev(tmp_path: Path) -> None:
    train = write_lines(tmp_path / "train.json", [GOOD_LINE, dumps(NESTED)])
    result = validate_file(train, split="train", labels=None, overlap_policy="keep_longest")
    labels = result.report["labels"]
    assert labels == ["book", "company", "name"]  # types of dropped nested spans are not lost
    dev_record = {"text": "北京", "label": {"address": {"北京": [[0, 1]]}}}
    dev = write_lines(tmp_path / "dev.json", [dumps(dev_record)])
    (rejection,) = validate_file(dev, split="dev", labels=labels).rejected
    assert rejection.kinds == ["unknown_type"]


def test_schema_loading(tmp_path: Path) -> None:
    schema = load_record_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["text"]
    copy = tmp_path / "schema.json"
    copy.write_text(json.dumps(schema), encoding="utf-8")
    assert load_record_schema(copy) == schema
    path = write_lines(tmp_path / "train.json", [GOOD_LINE])
    assert validate_file(path, split="train", labels=None, schema_path=copy).rejected == []
    with pytest.raises(FileNotFoundError, match="record schema not found"):
        load_record_schema(tmp_path / "missing.json")


def test_argument_errors(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "train.json", [GOOD_LINE])
    with pytest.raises(ValueError, match="overlap_policy"):
        validate_file(path, split="train", labels=None, overlap_policy="nested")
    with pytest.raises(ValueError, match="labels must not be empty"):
        validate_file(path, split="train", labels=[])
    result = validate_file(path, split="train", labels=None)
    with pytest.raises(ValueError, match="on_invalid"):
        check_or_raise(result, path, "ignore")


def test_empty_file_warns(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_bytes(b"")
    result = validate_file(path, split="dev", labels=None)
    assert result.records == [] and result.rejected == []
    assert result.report["lines"] == 0 and result.report["chars_mean"] == 0.0
    assert result.report["warnings"] == {"empty_file": 1}
