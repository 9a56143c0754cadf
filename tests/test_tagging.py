"""Tagging schemes: encoding, lenient decoding, strict validity, tag files."""

from __future__ import annotations

import itertools
from itertools import pairwise
from pathlib import Path

import pytest

from nerflow.data.records import Span
from nerflow.data.spans import remove_overlaps
from nerflow.text.tagging import (
    SCHEMES,
    escape_char,
    is_valid_sequence,
    label_list,
    read_tag_file,
    spans_to_tags,
    tags_to_spans,
    write_tag_file,
)


def test_label_list_order() -> None:
    assert label_list(["org", "loc", "org"], "BIO") == ["O", "B-loc", "I-loc", "B-org", "I-org"]
    assert label_list(["b", "a"], "BIOS") == ["O", "B-a", "I-a", "S-a", "B-b", "I-b", "S-b"]
    assert label_list(["a"], "BIOES") == ["O", "B-a", "I-a", "E-a", "S-a"]
    with pytest.raises(ValueError, match="scheme"):
        label_list(["a"], "IOB2")


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("BIO", ["B-a", "O", "B-b", "I-b", "I-b"]),
        ("BIOS", ["S-a", "O", "B-b", "I-b", "I-b"]),
        ("BIOES", ["S-a", "O", "B-b", "I-b", "E-b"]),
    ],
)
def test_single_char_and_entity_at_end(scheme: str, expected: list[str]) -> None:
    spans = [Span(0, 0, "a"), Span(2, 4, "b")]
    assert spans_to_tags(5, spans, scheme) == expected
    assert tags_to_spans(expected, scheme) == spans


def test_adjacent_same_type_entities() -> None:
    two = [Span(0, 1, "x"), Span(2, 3, "x")]
    assert spans_to_tags(4, two, "BIO") == ["B-x", "I-x", "B-x", "I-x"]
    assert tags_to_spans(["B-x", "I-x", "B-x", "I-x"], "BIO") == two
    singles = [Span(0, 0, "x"), Span(1, 1, "x")]
    assert spans_to_tags(2, singles, "BIOS") == ["S-x", "S-x"]
    assert spans_to_tags(2, singles, "BIO") == ["B-x", "B-x"]
    assert spans_to_tags(2, singles, "BIOES") == ["S-x", "S-x"]
    for scheme in SCHEMES:
        assert tags_to_spans(spans_to_tags(2, singles, scheme), scheme) == singles


def test_spans_to_tags_rejects_overlap_and_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"overlapping.*Span\(start=0, end=3"):
        spans_to_tags(5, [Span(0, 3, "a"), Span(2, 4, "b")], "BIO")
    with pytest.raises(ValueError, match="out of range"):
        spans_to_tags(3, [Span(1, 3, "a")], "BIO")
    with pytest.raises(ValueError, match="out of range"):
        spans_to_tags(3, [Span(2, 1, "a")], "BIO")


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["I-x", "I-x", "O"], [Span(0, 1, "x")]),  # orphan I starts an entity
        (["O", "I-x"], [Span(1, 1, "x")]),
        (["B-x", "I-y", "I-y"], [Span(0, 0, "x"), Span(1, 2, "y")]),  # B-X I-Y
        (["B-x", "I-x", "O", "I-x"], [Span(0, 1, "x"), Span(3, 3, "x")]),
        (["B-x", "E-x", "I-x"], [Span(0, 1, "x"), Span(2, 2, "x")]),  # E closes
        (["E-x", "B-y", "E-x"], [Span(0, 0, "x"), Span(1, 1, "y"), Span(2, 2, "x")]),
        (["B-x", "S-x", "I-x"], [Span(0, 0, "x"), Span(1, 1, "x"), Span(2, 2, "x")]),
        (["B-x", "B-x"], [Span(0, 0, "x"), Span(1, 1, "x")]),
        (["B-x", "I-x"], [Span(0, 1, "x")]),  # open at the end of the sequence
        (["B-a-b", "I-a-b"], [Span(0, 1, "a-b")]),  # types may hold '-'
        ([], []),
    ],
)
def test_lenient_decoding_policy(tags: list[str], expected: list[Span]) -> None:
    for scheme in SCHEMES:  # every scheme accepts every prefix
        assert tags_to_spans(tags, scheme) == expected


@pytest.mark.parametrize("bad", ["X-a", "B-", "b-a", "", "o", "B_a", "Ba"])
def test_unknown_tags_raise(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown tag"):
        tags_to_spans(["O", bad], "BIO")
    assert not is_valid_sequence(["O", bad], "BIO")


def _span_sets(n: int) -> list[list[Span]]:
    """All sets of non-overlapping spans over ``n`` positions with types a/b."""
    results: list[list[Span]] = []

    def extend(position: int, spans: list[Span]) -> None:
        if position >= n:
            results.append(list(spans))
            return
        extend(position + 1, spans)
        for end in range(position, n):
            for label in ("a", "b"):
                extend(end + 1, [*spans, Span(position, end, label)])

    extend(0, [])
    return results


@pytest.mark.parametrize("n", range(0, 6))
def test_exhaustive_span_roundtrip(n: int) -> None:
    for spans in _span_sets(n):
        encodings = {scheme: spans_to_tags(n, spans, scheme) for scheme in SCHEMES}
        for scheme, tags in encodings.items():
            assert tags_to_spans(tags, scheme) == spans
            assert is_valid_sequence(tags, scheme)
            for other in SCHEMES:
                assert spans_to_tags(n, tags_to_spans(tags, scheme), other) == encodings[other]


def test_exhaustive_tag_sequences_decode_and_validity() -> None:
    alphabet = ["O", "B-x", "I-x", "E-x", "S-x", "B-y", "I-y"]
    allowed = {"BIO": "OBI", "BIOS": "OBIS", "BIOES": "OBIES"}
    for length in range(0, 5):
        for tags in itertools.product(alphabet, repeat=length):
            for scheme in SCHEMES:
                spans = tags_to_spans(tags, scheme)
                assert all(0 <= s.start <= s.end < length for s in spans)
                assert all(a.end < b.start for a, b in pairwise(spans))
                canonical = spans_to_tags(length, spans, scheme)
                valid = is_valid_sequence(tags, scheme)
                assert valid == (list(tags) == canonical)
                if valid:
                    assert all(t[0] in allowed[scheme] for t in tags)


@pytest.mark.parametrize(
    ("tags", "scheme"),
    [
        (["I-x"], "BIO"),
        (["O", "I-x"], "BIOS"),
        (["B-x", "I-y"], "BIO"),
        (["B-x"], "BIOS"),  # a single position must be S
        (["B-x", "O"], "BIOES"),
        (["B-x", "I-x"], "BIOES"),  # not closed by E
        (["E-x"], "BIOES"),
        (["S-x"], "BIO"),  # prefix outside the scheme
        (["B-x", "E-x"], "BIOS"),
    ],
)
def test_invalid_sequences(tags: list[str], scheme: str) -> None:
    assert not is_valid_sequence(tags, scheme)


def test_remove_overlaps_drops_later_or_shorter() -> None:
    title, inner1, inner2 = Span(0, 9, "book"), Span(1, 3, "company"), Span(5, 7, "company")
    kept, dropped = remove_overlaps([inner1, title, inner2])
    assert kept == [title] and dropped == [inner1, inner2]
    first, later = Span(0, 3, "a"), Span(2, 5, "b")
    assert remove_overlaps([later, first]) == ([first], [later])
    same_start = Span(0, 1, "a")
    assert remove_overlaps([same_start, first]) == ([first], [same_start])


def test_convert_tags_between_schemes() -> None:
    bio = ["B-x", "B-y", "I-y", "O", "I-x"]

    def convert(tags: list[str], scheme_from: str, scheme_to: str) -> list[str]:
        return spans_to_tags(len(tags), tags_to_spans(tags, scheme_from), scheme_to)

    assert convert(bio, "BIO", "BIOES") == ["S-x", "B-y", "E-y", "O", "S-x"]
    assert convert(bio, "BIO", "BIOS") == ["S-x", "B-y", "I-y", "O", "S-x"]
    assert convert(["S-x", "B-y", "E-y"], "BIOES", "BIO") == ["B-x", "B-y", "I-y"]


def test_tag_file_roundtrip(tmp_path: Path) -> None:
    records = [
        ("北京 上海", ["B-loc", "I-loc", "O", "B-loc", "I-loc"]),
        ("", []),
        (" a\tb\nc\r\\u0020\\", ["O"] * 14),
        ("😀\u200b\ufeff\u2028\x85\x1c１２３ＡＢ", ["O"] * 6 + ["S-num", "O", "O", "B-x", "E-x"]),
        ("", []),
        ("末", ["S-a"]),
    ]
    assert all(len(text) == len(tags) for text, tags in records)
    path = tmp_path / "tags.tsv"
    assert write_tag_file(path, records) == len(records)
    assert read_tag_file(path) == records
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[:6] == ["北\tB-loc", "京\tI-loc", "\\u0020\tO", "上\tB-loc", "海\tI-loc", ""]
    assert lines[6] == ""  # the empty record is a lone blank line
    assert escape_char("\t") == "\\u0009" and escape_char("\\") == "\\u005c"
    assert escape_char("\U0001f600") == "😀"  # printable astral characters stay literal


def test_tag_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "tags.tsv"
    with pytest.raises(ValueError, match="2 characters but 1 tags"):
        write_tag_file(path, [("北京", ["O"])])
    path.write_text("北\tO\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not terminated"):
        read_tag_file(path)
    path.write_text("北京\tO\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad character field"):
        read_tag_file(path)
    path.write_text("北 O\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="char<TAB>tag"):
        read_tag_file(path)
