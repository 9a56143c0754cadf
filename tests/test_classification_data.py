"""Tests of the classification data layer (``nerflow.classification.examples`` and
``nerflow.classification.validate``) on small fixture files the tests write themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerflow.classification.examples import Example, ExampleFileError, read_examples, write_examples
from nerflow.classification.validate import (
    FORMATS,
    REASONS,
    LabelSetError,
    detect_format,
    label_set,
    split_overlap,
    validate_examples,
)
from nerflow.errors import UserError

POLARITY = ["neg", "pos"]
REPORT_KEYS = {
    "file",
    "split",
    "format",
    "text_column",
    "label_column",
    "lines",
    "records",
    "rejected",
    "rejected_by_reason",
    "warnings",
    "labels",
    "class_counts",
    "chars_mean",
    "chars_max",
}


def write(path: Path, lines: list[str | bytes], newline: bytes = b"\n") -> Path:
    """Write raw lines (str is UTF-8 encoded, bytes are written as they are)."""
    encoded = [line.encode("utf-8") if isinstance(line, str) else line for line in lines]
    path.write_bytes(b"".join(line + newline for line in encoded))
    return path


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


def check(path: Path, labels: list[str] | None = POLARITY, **options):
    return validate_examples(path, split=options.pop("split", "train"), labels=labels, **options)


# --- formats -------------------------------------------------------------------------------


def test_tsv_with_label_text_a_header(tmp_path: Path) -> None:
    path = write(
        tmp_path / "train.tsv",
        ["label\ttext_a", '1\tthe "best" film, ever', "0\t很差", "1\tgood"],
    )
    result = check(path, ["0", "1"])
    assert not result.rejected and not result.warnings
    assert result.records == [
        Example(0, 'the "best" film, ever', "1"),
        Example(1, "很差", "0"),
        Example(2, "good", "1"),
    ]
    report = result.report
    assert set(report) == REPORT_KEYS
    assert report["format"] == "tsv"
    assert (report["text_column"], report["label_column"]) == ("text_a", "label")
    assert (report["lines"], report["records"], report["rejected"]) == (3, 3, 0)
    assert report["class_counts"] == {"0": 1, "1": 2}
    assert report["labels"] == ["0", "1"]
    assert report["chars_max"] == len('the "best" film, ever')
    assert report["file"] == str(path) and report["split"] == "train"


def test_csv_with_quoted_commas_and_id_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dev.csv",
        ["id,qid,text,label", '7,q1,"Hello, world",pos', '8,q2,"He said ""hi"", twice",neg'],
    )
    result = check(path)
    assert not result.rejected
    assert result.records == [
        Example("7", "Hello, world", "pos"),
        Example("8", 'He said "hi", twice', "neg"),
    ]
    assert result.report["format"] == "csv" and result.report["text_column"] == "text"


def test_jsonl_with_int_and_str_labels(tmp_path: Path) -> None:
    lines = [
        dumps({"text": "一", "label": 1}),
        dumps({"text": "二", "label": "0"}),
        dumps({"id": "x", "text": "三", "label": 1}),
    ]
    result = check(write(tmp_path / "train.jsonl", lines), None)
    assert not result.rejected
    assert result.records == [Example(0, "一", "1"), Example(1, "二", "0"), Example("x", "三", "1")]
    assert result.report["labels"] == ["0", "1"]
    assert result.report["class_counts"] == {"0": 1, "1": 2}


@pytest.mark.parametrize(
    ("name", "first_line", "expected"),
    [
        ("a.tsv", "x,y", "tsv"),
        ("a.TAB", "x,y", "tsv"),
        ("a.csv", "x\ty", "csv"),
        ("a.jsonl", "x", "jsonl"),
        ("a.json", "x", "jsonl"),
        ("a.txt", '  {"text": 1}', "jsonl"),
        ("a.txt", "label\ttext", "tsv"),
        ("a.txt", "label,text", "csv"),
        ("noext", "text", "csv"),
    ],
)
def test_detect_format(name: str, first_line: str, expected: str) -> None:
    assert detect_format(name, [b"", b"  ", first_line.encode()]) == expected


def test_auto_detection_by_suffix_and_content(tmp_path: Path) -> None:
    by_suffix = write(tmp_path / "train.tab", ["text\tlabel", "a, b\tpos"])
    assert check(by_suffix).report["format"] == "tsv"
    by_content = write(tmp_path / "train.txt", ["text\tlabel", "a, b\tpos"])
    result = check(by_content)
    assert result.report["format"] == "tsv" and result.records == [Example(0, "a, b", "pos")]
    jsonl = write(tmp_path / "data", [dumps({"text": "a", "label": "pos"})])
    assert check(jsonl).report["format"] == "jsonl"
    csv_file = write(tmp_path / "data.txt", ["text,label", "a,pos"])
    assert check(csv_file).report["format"] == "csv"


def test_explicit_format_overrides_suffix(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", ["text\tlabel", "a, b\tpos"])
    result = check(path, file_format="tsv")
    assert result.report["format"] == "tsv" and result.records == [Example(0, "a, b", "pos")]
    with pytest.raises(ValueError, match="file_format"):
        check(path, file_format="xlsx")
    assert FORMATS == ("auto", "tsv", "csv", "jsonl")


# --- repairs and verbatim texts -------------------------------------------------------------


def test_bom_at_file_start_is_stripped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_bytes(b"\xef\xbb\xbflabel\ttext\npos\tfine\n")
    result = check(path)
    assert result.records == [Example(0, "fine", "pos")]
    assert result.report["warnings"] == {"bom": 1}
    assert result.warnings[0].startswith(f"{path}:1: ")


def test_bom_and_whitespace_inside_a_text_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path / "train.tsv", ["label\ttext", "pos\t\ufeff开头", "neg\t  padded \u3000"])
    result = check(path)
    assert [example.text for example in result.records] == ["\ufeff开头", "  padded \u3000"]
    assert result.report["warnings"] == {}


def test_crlf_is_accepted_and_counted(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", ["text,label", "a,pos", "b,neg"], newline=b"\r\n")
    result = check(path)
    assert result.records == [Example(0, "a", "pos"), Example(1, "b", "neg")]
    assert result.report["warnings"] == {"crlf": 3}
    assert "3 of 3 lines end with CRLF" in result.warnings[0]


def test_blank_lines_are_skipped_with_a_warning_and_keep_ids(tmp_path: Path) -> None:
    lines = [dumps({"text": "a", "label": "pos"}), "", "  ", dumps({"text": "b", "label": "neg"})]
    path = write(tmp_path / "train.jsonl", lines)
    result = check(path)
    assert result.records == [Example(0, "a", "pos"), Example(3, "b", "neg")]
    assert result.report["warnings"] == {"blank_line": 2}
    assert result.warnings == [f"{path}:2: blank line skipped", f"{path}:3: blank line skipped"]


def test_chinese_class_names(tmp_path: Path) -> None:
    labels = ["财经", "体育"]
    path = write(tmp_path / "train.tsv", ["label\ttext", "体育\t球赛", "财经\t股市", "娱乐\t电影"])
    result = check(path, labels)
    assert result.records == [Example(0, "球赛", "体育"), Example(1, "股市", "财经")]
    assert result.report["class_counts"] == {"体育": 1, "财经": 1}
    assert result.report["labels"] == sorted(labels)
    (rejected,) = result.rejected
    assert rejected.kinds == ["unknown_label"]
    assert "'娱乐'" in rejected.reason and "体育" in rejected.reason and "财经" in rejected.reason


def test_other_column_names(tmp_path: Path) -> None:
    path = write(tmp_path / "train.tsv", ["index\tsentence\tcategory", "0\tok\tpos"])
    result = check(path, text_column="sentence", label_column="category")
    assert result.records == [Example(0, "ok", "pos")]
    assert result.report["text_column"] == "sentence"
    assert result.report["label_column"] == "category"
    jsonl = write(tmp_path / "train.jsonl", [dumps({"content": "ok", "y": "pos"})])
    result = check(jsonl, text_column="content", label_column="y")
    assert result.records == [Example(0, "ok", "pos")]


def test_review_column_and_name_in_messages(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", ["label,review", "pos,", "neg,bad"])
    result = check(path, name="<stdin>")
    assert result.report["text_column"] == "review" and result.report["file"] == "<stdin>"
    assert result.rejected[0].format("<stdin>") == "<stdin>:2: empty text"


def test_unlabelled_split(tmp_path: Path) -> None:
    path = write(tmp_path / "test.tsv", ["id\ttext", "a\tfirst", "b\tsecond"])
    result = check(path, require_labels=False, split="test")
    assert result.records == [Example("a", "first", None), Example("b", "second", None)]
    assert result.report["label_column"] is None and result.report["class_counts"] == {}
    lines = [
        dumps({"text": "x"}),
        dumps({"text": "y", "label": None}),
        dumps({"text": "z", "label": "?"}),
    ]
    result = check(write(tmp_path / "test.jsonl", lines), require_labels=False)
    assert [example.label for example in result.records] == [None, None]
    assert [rejected.kinds for rejected in result.rejected] == [["unknown_label"]]


# --- bad input ------------------------------------------------------------------------------

TSV_HEADER = "id\tlabel\ttext"
CSV_HEADER = "id,label,text"
# (file name, header or None, bad line, expected kinds); the bad line sits between two good ones
BAD = [
    ("t.tsv", TSV_HEADER, b"x\tpos\t\xff\xfe bad", ["invalid_utf8"]),
    ("t.jsonl", None, b'{"text": "\xc3", "label": "pos"}', ["invalid_utf8"]),
    ("t.csv", CSV_HEADER, 'x,pos,"unterminated', ["quoting"]),
    ("t.csv", CSV_HEADER, 'x,pos,"ab"c', ["quoting"]),
    ("t.csv", CSV_HEADER, 'x,pos,a 5" screen', ["quoting"]),
    ("t.tsv", TSV_HEADER, "x\tpos\ta\rb", ["quoting"]),
    ("t.tsv", TSV_HEADER, "x\tpos", ["missing_field"]),
    ("t.csv", CSV_HEADER, "x,pos,a,b", ["extra_field"]),
    ("t.tsv", TSV_HEADER, "x\tpos\t", ["empty_text"]),
    ("t.tsv", TSV_HEADER, "x\tpos\t \u3000 ", ["empty_text"]),
    ("t.tsv", TSV_HEADER, "x\tmeh\ttext", ["unknown_label"]),
    ("t.tsv", TSV_HEADER, "x\t\ttext", ["missing_label"]),
    ("t.csv", CSV_HEADER, "x, ,text", ["missing_label"]),
    ("t.tsv", TSV_HEADER, "first\tpos\tagain", ["duplicate_id"]),
    ("t.tsv", TSV_HEADER, "\tpos\tno id", ["invalid_id"]),
    ("t.jsonl", None, '{"text": "a", "label": "pos"', ["not_json"]),
    ("t.jsonl", None, "[1, 2]", ["not_json"]),
    ("t.jsonl", None, dumps({"text": 5, "label": "pos"}), ["invalid_text"]),
    ("t.jsonl", None, '{"text": "\\ud800", "label": "pos"}', ["invalid_text"]),
    ("t.jsonl", None, dumps({"label": "pos"}), ["missing_field"]),
    ("t.jsonl", None, dumps({"text": "a", "label": "pos", "source": "web"}), ["extra_field"]),
    ("t.jsonl", None, dumps({"text": "a"}), ["missing_label"]),
    ("t.jsonl", None, dumps({"text": "a", "label": ""}), ["missing_label"]),
    ("t.jsonl", None, dumps({"text": "a", "label": True}), ["invalid_label"]),
    ("t.jsonl", None, dumps({"text": "a", "label": 1.0}), ["invalid_label"]),
    ("t.jsonl", None, dumps({"text": "a", "label": "neutral"}), ["unknown_label"]),
    ("t.jsonl", None, dumps({"id": "first", "text": "a", "label": "pos"}), ["duplicate_id"]),
    ("t.jsonl", None, dumps({"id": 1.5, "text": "a", "label": "pos"}), ["invalid_id"]),
    ("t.jsonl", None, '{"text": "a", "text": "b", "label": "pos"}', ["duplicate_key"]),
    (
        "t.jsonl",
        None,
        dumps({"text": " ", "label": "meh", "x": 1}),
        ["extra_field", "empty_text", "unknown_label"],
    ),
]


def good_line(file_name: str, example_id: str) -> str:
    if file_name.endswith(".jsonl"):
        return dumps({"id": example_id, "text": "好", "label": "pos"})
    separator = "," if file_name.endswith(".csv") else "\t"
    return separator.join([example_id, "pos", "好"])


@pytest.mark.parametrize(("file_name", "header", "bad", "kinds"), BAD)
def test_bad_line_is_rejected_with_its_kinds_and_line(
    tmp_path: Path, file_name: str, header: str | None, bad: str | bytes, kinds: list[str]
) -> None:
    lines = [good_line(file_name, "first"), bad, good_line(file_name, "last")]
    if header is not None:
        lines.insert(0, header)
    path = write(tmp_path / file_name, lines)
    result = check(path)
    assert [example.id for example in result.records] == ["first", "last"]
    (rejected,) = result.rejected
    assert rejected.kinds == kinds
    line = 3 if header else 2
    assert rejected.line == line
    assert rejected.format(path).startswith(f"{path}:{line}: ")
    expected_raw = bad if isinstance(bad, str) else bad.decode("utf-8", "backslashreplace")
    assert rejected.raw == expected_raw
    assert result.report["rejected_by_reason"] == {kind: 1 for kind in sorted(kinds)}
    assert set(kinds) <= set(REASONS)


def test_reason_messages(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.tsv",
        [TSV_HEADER, b"z\tpos\t\xff", "a\tmeh\tx", "a\tpos\ty", "c\tpos", 'd\tpos\t"q"\textra'],
    )
    reasons = [rejected.reason for rejected in check(path).rejected]
    assert reasons == [
        "invalid UTF-8: byte 0xff at byte 6 of the line (invalid start byte)",
        "unknown label 'meh' (expected one of: ['neg', 'pos'])",
        "duplicate id 'a' (first on line 3)",
        "2 fields, the header has 3 (missing column(s): ['text'])",
        "4 fields, the header has 3 (extra value(s): ['extra'])",
    ]


def test_csv_field_spanning_lines_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", ["text,label", '"two', 'lines",pos', "ok,neg"])
    result = check(path)
    assert [rejected.kinds for rejected in result.rejected] == [["quoting"], ["quoting"]]
    assert [rejected.line for rejected in result.rejected] == [2, 3]
    assert result.records == [Example(2, "ok", "neg")]
    assert "unexpected end of data" in result.rejected[0].reason
    assert "a quote inside an unquoted field" in result.rejected[1].reason


def test_tsv_keeps_quote_characters(tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv", ["text\tlabel", '"opens\tpos', 'closes" here\tneg', '""\tpos'])
    result = check(path)
    assert [example.text for example in result.records] == ['"opens', 'closes" here', '""']


def test_reasons_are_listed_once() -> None:
    assert len(REASONS) == len(set(REASONS))


@pytest.mark.parametrize(
    ("lines", "options", "message"),
    [
        (["id\tsentence\tlabel", "1\tx\tpos"], {}, ":1: no text column: the header has"),
        (["", "id\tsentence\tlabel"], {}, ":2: no text column: the header has"),
        (["text\tlabel"], {"text_column": "body"}, ":1: no text column 'body'"),
        (["text\tclass"], {}, ":1: no label column 'label'"),
        (["text\ttext\tlabel"], {}, ":1: column 'text' appears twice"),
        ([], {}, ":1: no header line"),
    ],
)
def test_unusable_header_is_a_file_error(
    tmp_path: Path, lines: list[str], options: dict, message: str
) -> None:
    path = write(tmp_path / "train.tsv", lines)
    with pytest.raises(ExampleFileError) as caught:
        check(path, **options)
    assert str(caught.value).startswith(f"{path}{message}")
    assert isinstance(caught.value, UserError)


def test_empty_files(tmp_path: Path) -> None:
    empty = write(tmp_path / "train.jsonl", [])
    result = check(empty)
    assert result.records == [] and result.report["warnings"] == {"empty_file": 1}
    header_only = write(tmp_path / "train.tsv", ["text\tlabel"])
    result = check(header_only)
    assert result.report["lines"] == 0 and result.report["warnings"] == {"empty_file": 1}


# --- example files --------------------------------------------------------------------------


def test_write_and_read_examples(tmp_path: Path) -> None:
    examples = [
        Example(0, "体育新闻\u2028第二行", "体育"),
        Example("x", ' "quoted"\t', None),
    ]
    path = tmp_path / "examples.jsonl"
    assert write_examples(path, examples) == 2
    assert read_examples(path) == examples
    first = path.read_text(encoding="utf-8").split("\n")[0]
    assert json.loads(first) == {"id": 0, "text": "体育新闻\u2028第二行", "label": "体育"}
    assert "体育" in first  # not escaped
    assert check(path, ["体育"], require_labels=False).records == examples


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        dumps({"text": "a", "label": "b"}),
        dumps({"id": 1, "text": 2, "label": "b"}),
        dumps({"id": True, "text": "a", "label": "b"}),
        dumps({"id": 1, "text": "a", "label": 3}),
        "",
    ],
)
def test_read_examples_names_the_bad_line(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path / "examples.jsonl", [dumps({"id": 0, "text": "a", "label": "b"}), bad])
    with pytest.raises(ExampleFileError, match=f"^{path}:2: "):
        read_examples(path)


# --- label sets and splits ------------------------------------------------------------------


def test_label_set() -> None:
    examples = [Example(0, "a", "pos"), Example(1, "b", "neg"), Example(2, "c", None)]
    assert label_set(examples, None) == ["neg", "pos"]
    assert label_set(examples, ["pos", "neg", "mixed"]) == ["pos", "neg", "mixed"]
    with pytest.raises(LabelSetError, match="at least 2 classes"):
        label_set(examples[:1], None)
    with pytest.raises(LabelSetError, match="at least 2 classes"):
        label_set([], ["only"])
    with pytest.raises(LabelSetError, match="more than once"):
        label_set(examples, ["pos", "pos", "neg"])
    with pytest.raises(LabelSetError, match="outside the configured"):
        label_set(examples, ["pos", "mixed"])
    assert issubclass(LabelSetError, UserError)


def test_split_overlap() -> None:
    splits = {
        "train": [
            Example(0, "shared", "pos"),
            Example(1, "conflict", "pos"),
            Example(2, "only train", "neg"),
            Example(3, "only train ", "neg"),
        ],
        "dev": [Example(0, " shared", "pos"), Example(1, "conflict", "neg")],
        "test": [Example(0, "shared", None), Example(1, "fresh", None), Example(2, "fresh", None)],
    }
    overlap = split_overlap(splits)
    assert overlap == {
        "texts_in_several_splits": 2,
        "pairs": {"train&dev": 2, "train&test": 1, "dev&test": 1},
        "examples": [
            {"text": "shared", "splits": ["train", "dev", "test"]},
            {"text": "conflict", "splits": ["train", "dev"]},
        ],
        "duplicates_within": {"train": 1, "dev": 0, "test": 1},
        "conflicting_labels": 1,
    }
    assert split_overlap(splits, max_examples=1)["examples"] == overlap["examples"][:1]
    clean = split_overlap({"train": splits["train"][:1], "dev": splits["dev"][1:]})
    assert clean["texts_in_several_splits"] == 0 and clean["examples"] == []
