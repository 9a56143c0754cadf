"""Unit tests of nerflow.report.error_browser: the per-run page of dev errors in context.

The page is parsed back with the standard library's HTML parser: the marks of each line
(nesting included), the error list items and the filter boxes, so the checks read what a
browser gets. tests/test_report.py opens the page of a real run in headless Chromium."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from nerflow.data.records import Record, Span
from nerflow.evaluation.errors import ERROR_CATEGORIES, error_rows
from nerflow.report.error_browser import (
    BADGES,
    error_browser_html,
    record_view,
    render_line,
)


class Page(HTMLParser):
    """Elements of interest with their attributes, text and enclosing marks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.marks: list[dict] = []  # every <mark>: attrs, depth, text, line ("gold"/"pred")
        self.open_marks: list[dict] = []
        self.items: list[dict] = []
        self.records: list[dict] = []
        self.boxes: list[dict] = []
        self.scripts: list[str] = []
        self.line = ""
        self.texts: dict[str, str] = {}
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.stack.append((tag, attributes))
        classes = attributes.get("class", "").split()
        if tag == "span" and "text" in classes:
            self.line = "gold" if "gold" in classes else "pred"
            self.texts[self.line] = self.texts.get(self.line, "") + "\n"
        if tag == "mark":
            mark = {**attributes, "depth": len(self.open_marks), "text": "", "line": self.line}
            self.marks.append(mark)
            self.open_marks.append(mark)
        if tag == "li":
            self.items.append(attributes)
        if tag == "section":
            self.records.append(attributes)
        if tag == "input":
            self.boxes.append(attributes)
        self.in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            name, attributes = self.stack.pop()
            if name == "mark":
                self.open_marks.pop()
            if name == "span" and "text" in attributes.get("class", "").split():
                self.line = ""
            if name == tag:
                break
        self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script:
            self.scripts.append(data)
        for mark in self.open_marks:
            mark["text"] += data
        if self.line:
            self.texts[self.line] += data


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    return parser


TEXT = "张三在北京大学读书，住在上海。"
GOLD = [
    Record(1, TEXT, [Span(0, 1, "name"), Span(3, 6, "organization"), Span(12, 13, "address")]),
    Record(2, "没有实体", []),
    Record(3, "李四", [Span(0, 1, "name")]),
]
PRED = [
    Record(
        1,
        TEXT,
        [
            Span(0, 1, "name"),  # correct
            Span(3, 5, "organization"),  # boundary_error
            Span(12, 13, "scene"),  # type_error
            Span(7, 8, "game"),  # spurious
        ],
    ),
    Record(2, "没有实体", []),
    Record(3, "李四", []),  # missed
]


def test_each_kind_is_the_scorer_category_and_marked_on_its_span() -> None:
    page = parse(error_browser_html(GOLD, PRED, ["name", "organization", "address"]))
    kinds = [item["data-kind"] for item in page.items]
    assert sorted(kinds) == sorted(row["category"] for row in error_rows(GOLD, PRED))
    assert set(kinds) == {"boundary_error", "type_error", "spurious", "missed"}
    pred_marks = {m["text"]: m for m in page.marks if m["line"] == "pred"}
    assert pred_marks["张三"]["class"].split()[-1] == "ok" and "data-kind" not in pred_marks["张三"]
    assert pred_marks["北京大"]["data-kind"] == "boundary_error"
    assert pred_marks["北京大"]["data-badge"] == BADGES["boundary_error"] == "B"
    assert pred_marks["上海"]["data-kind"] == "type_error"
    assert pred_marks["读书"]["data-kind"] == "spurious"
    gold_marks = {m["text"]: m for m in page.marks if m["line"] == "gold"}
    assert gold_marks["北京大学"]["data-kind"] == "boundary_error"  # the span it was compared with
    assert gold_marks["上海"]["data-kind"] == "type_error"
    assert gold_marks["李四"]["data-kind"] == "missed"
    # records without errors are rendered hidden, after the others; lines carry whole texts
    assert [(r["data-id"], r["class"], "hidden" in r) for r in page.records] == [
        ("1", "record", False),
        ("3", "record", False),
        ("2", "record correct", True),
    ]
    assert page.texts["gold"].split("\n")[1] == page.texts["pred"].split("\n")[1] == TEXT


def test_boundary_type_error_is_its_own_kind() -> None:
    gold = [Record("a", "北京大学", [Span(0, 3, "organization")])]
    pred = [Record("a", "北京大学", [Span(0, 1, "address")])]
    view = record_view(gold[0], pred[0])
    assert [e.category for e in view.errors] == ["boundary_type_error"]
    assert view.errors[0].types == ("organization", "address")
    page = parse(error_browser_html(gold, pred))
    (item,) = page.items
    assert item["data-kind"] == "boundary_type_error"
    assert json.loads(item["data-types"]) == ["organization", "address"]
    assert {m["data-badge"] for m in page.marks} == {"B+T"}


def test_filters_carry_every_kind_and_the_types_found_in_the_data() -> None:
    page = parse(error_browser_html(GOLD, PRED, ["name"]))
    kind_boxes = [b["value"] for b in page.boxes if b["name"] == "kind"]
    type_boxes = [b["value"] for b in page.boxes if b["name"] == "type"]
    assert kind_boxes == list(ERROR_CATEGORIES)
    # configured order first, then every other type seen in gold or predictions, sorted
    assert type_boxes == ["name", "address", "game", "organization", "scene"]
    assert all("checked" in b for b in page.boxes if b["name"] != "correct")
    assert [b for b in page.boxes if b["name"] == "correct"] == [
        {"type": "checkbox", "name": "correct", "value": "show"}
    ]
    for item in page.items:
        assert item["data-kind"] in kind_boxes
        assert set(json.loads(item["data-types"])) <= set(type_boxes)
    # every marked error points at a list item the filters hide or show
    ids = {item["id"] for item in page.items}
    for mark in page.marks:
        if "data-errors" in mark:
            assert set(mark["data-errors"].split()) <= ids


def test_filter_counts_are_shown() -> None:
    page = error_browser_html(GOLD, PRED)
    assert 'value="missed" checked>' in page
    assert 'missed</span> <span class="count">(1)</span>' in page
    assert 'organization</span> <span class="count">(1)</span>' in page
    assert "3 dev records, 2 with at least one error (4 errors;" in page


def test_text_and_labels_are_escaped() -> None:
    text = '<script>alert("x")</script>&amp;'
    hostile_type = '"><img src=x onerror=alert(1)>'
    gold = [Record('"id"<b>', text, [Span(0, 7, hostile_type)])]
    pred = [Record('"id"<b>', text, [Span(8, 15, "<i>")])]
    page = error_browser_html(gold, pred, title="<title>")
    assert "<script>alert" not in page and "<img" not in page and "<i>" not in page
    assert "<b>" not in page.replace("<b>missed", "").replace("<b>spurious", "")
    assert "&lt;script&gt;</mark>" in page and "&lt;/script&gt;&amp;amp;" in page
    parsed = parse(page)
    assert parsed.texts["gold"].strip() == parsed.texts["pred"].strip() == text
    assert {m["data-type"] for m in parsed.marks} == {hostile_type, "<i>"}
    assert [b["value"] for b in parsed.boxes if b["name"] == "type"] == sorted(
        [hostile_type, "<i>"]
    )
    assert len(parsed.scripts) == 1  # only the page's own script


def test_nested_and_crossing_spans_render() -> None:
    text = "北京大学医学院附属医院"
    gold = [Record(1, text, [Span(0, 6, "organization"), Span(0, 1, "address")])]
    pred = [
        Record(
            1,
            text,
            [
                Span(0, 6, "organization"),  # correct, contains the two below
                Span(0, 3, "organization"),  # nested, boundary_error
                Span(0, 1, "address"),  # nested twice, correct
                Span(5, 10, "organization"),  # crosses [0, 6]: cut at its end
            ],
        )
    ]
    page = parse(error_browser_html(gold, pred))
    pred_marks = [m for m in page.marks if m["line"] == "pred"]
    by_text = {m["text"]: m for m in pred_marks}
    assert by_text["北京大学医学院"]["depth"] == 0
    assert (
        by_text["北京大学"]["depth"] == 1 and by_text["北京大学"]["data-kind"] == "boundary_error"
    )
    assert by_text["北京"]["depth"] == 2 and "ok" in by_text["北京"]["class"].split()
    pieces = [m for m in pred_marks if "cut" in m["class"].split()]
    assert [(p["text"], p["depth"]) for p in pieces] == [("学院", 1), ("附属医院", 0)]
    assert "data-badge" not in pieces[0] and pieces[1]["data-badge"] == "B"
    assert page.texts["pred"].strip() == page.texts["gold"].strip() == text
    gold_marks = {m["text"]: m for m in page.marks if m["line"] == "gold"}
    assert gold_marks["北京"]["depth"] == 1


def test_render_line_clips_spans_to_the_text() -> None:
    view = record_view(Record(1, "abc", []), Record(1, "abc", [Span(1, 9, "x"), Span(5, 6, "y")]))
    line = render_line(view.pred_text, view.pred_marks, {"x": 0, "y": 1})
    assert line.startswith("a<mark") and line.endswith(">bc</mark>")
    assert line.count("<mark") == 1


def test_records_are_capped_and_the_page_says_so() -> None:
    gold = [Record(i, "李四", [Span(0, 1, "name")]) for i in range(30)]
    pred = [Record(i, "李四", []) for i in range(30)]
    page = error_browser_html(gold, pred, max_records=10)
    assert page.count('<section class="record"') == 10
    assert "30 dev records, 30 with at least one error" in page
    assert "Only the first 10 are shown" in page
    assert '<span class="count">(10 of 30)</span>' in page


def test_records_are_paired_by_id() -> None:
    with pytest.raises(ValueError, match="ids differ"):
        error_browser_html(GOLD, PRED[:2])
    page = parse(error_browser_html(GOLD, list(reversed(PRED))))
    assert [r["data-id"] for r in page.records] == ["1", "3", "2"]


def test_a_run_without_errors_says_so() -> None:
    page = error_browser_html(GOLD[1:2], PRED[1:2])
    assert "No record has an error" in page
    assert page.count('<section class="record correct" data-id="2"') == 1
    assert "1 dev records, 0 with at least one error (0 errors; 0 gold spans" in page


def test_records_without_errors_are_capped_too() -> None:
    gold = [Record(i, "李四", [Span(0, 1, "name")]) for i in range(30)]
    page = error_browser_html(gold, gold, max_correct=5)
    assert page.count('<section class="record correct"') == 5
    assert 'records without errors</span> <span class="count">(5 of 30)</span>' in page
