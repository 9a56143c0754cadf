"""The error browser: one self-contained HTML page per run showing its dev errors in context.

:func:`error_browser_html` takes gold and predicted records (paired by id, as the scorer
pairs them) and returns a complete page (inline CSS and JS, no network, no server) where
every record with at least one error shows its text twice, gold spans highlighted on the
first line and predicted spans on the second, one colour per entity type (legend). Every
error is one of the categories of :func:`nerflow.evaluation.errors.classify_record`, which
this page shows unchanged, so its counts are those of the error table (``errors.html``):

====================== ====== =========================================================
category               badge  the marked span
====================== ====== =========================================================
``type_error``         T      prediction with gold boundaries, other type
``boundary_error``     B      prediction overlapping a gold span of its type
``boundary_type_error`` B+T   prediction overlapping a gold span of another type only
``spurious``           S      prediction overlapping no gold span
``missed``             M      gold span neither predicted nor named by an error above
====================== ====== =========================================================

``boundary_type_error`` (wrong boundaries *and* wrong type) is its own kind, not folded
into "boundary" or "type": it has its own badge and filter box. An erroneous span gets a
dashed border in its kind's colour and the badge; a gold span that a prediction error was
compared with carries that error's badge too, so both halves of a pair are marked. Correct
spans (exact matches) are drawn plain, with a solid underline.

Filters (checkboxes with counts): kinds, and entity types; an error passes when its kind
is checked and one of its types (gold or predicted) is checked; a record is shown while
one of its errors passes. Overlapping and nested spans (the span head predicts them) are
drawn as nested marks; a span crossing another is cut at the other's border, each piece
carrying the span's marks. Every error is also listed under its record. All text from
the data is escaped; the entity types come from the data (``types`` gives their order).
At most ``max_records`` records with errors are rendered (gold order); the header says
how many of how many. Up to ``max_correct`` records without errors are rendered too,
hidden until their check box asks for them (the filters leave them alone).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from nerflow.data.records import Record, Span
from nerflow.evaluation.errors import ERROR_CATEGORIES, MISSED, classify_record
from nerflow.evaluation.pairs import align, prediction_text, scored_types

MAX_RECORDS = 500
"""Records with errors rendered at most (CLUENER dev: 1343 records)."""
MAX_CORRECT = 100
"""Records without errors rendered at most (hidden until asked for)."""

BADGES: Mapping[str, str] = {
    "type_error": "T",
    "boundary_error": "B",
    "boundary_type_error": "B+T",
    "spurious": "S",
    "missed": "M",
}
KIND_COLOURS: Mapping[str, str] = {
    "type_error": "#7b2cbf",
    "boundary_error": "#e67e00",
    "boundary_type_error": "#c1121f",
    "spurious": "#d81b60",
    "missed": "#1565c0",
}
KIND_NAMES: Mapping[str, str] = {
    "type_error": "type",
    "boundary_error": "boundary",
    "boundary_type_error": "boundary + type",
    "spurious": "spurious",
    "missed": "missed",
}


@dataclass(frozen=True)
class ErrorItem:
    """One error of a record: a row of :func:`classify_record` and its page id."""

    id: str
    category: str
    gold: Span | None
    pred: Span | None

    @property
    def types(self) -> tuple[str, ...]:
        """Entity types the error involves: gold type, then predicted type (distinct)."""
        labels = [span.label for span in (self.gold, self.pred) if span is not None]
        return tuple(dict.fromkeys(labels))


@dataclass(frozen=True)
class MarkedSpan:
    """A span of one line and the errors marked on it (none: a correct span)."""

    span: Span
    errors: tuple[ErrorItem, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(error.category for error in self.errors))


@dataclass(frozen=True)
class RecordView:
    """What the page shows of one record."""

    id: int | str
    gold_text: str
    pred_text: str
    gold_marks: tuple[MarkedSpan, ...]
    pred_marks: tuple[MarkedSpan, ...]
    errors: tuple[ErrorItem, ...]


def record_view(gold: Record, pred: Record, first_error: int = 0) -> RecordView:
    """Marks and errors of one record pair; error ids count on from ``first_error``."""
    errors: list[ErrorItem] = []
    for row in classify_record(gold, pred):
        gold_span = _span(row, "gold")
        pred_span = _span(row, "pred")
        errors.append(
            ErrorItem(f"e{first_error + len(errors)}", row["category"], gold_span, pred_span)
        )

    def marks(spans: Sequence[Span], side: str) -> tuple[MarkedSpan, ...]:
        return tuple(
            MarkedSpan(span, tuple(e for e in errors if getattr(e, side) == span))
            for span in sorted(set(spans))
        )

    return RecordView(
        id=gold.id,
        gold_text=gold.text,
        pred_text=prediction_text(gold, pred),
        gold_marks=marks(gold.spans, "gold"),
        pred_marks=marks(pred.spans, "pred"),
        errors=tuple(errors),
    )


def _span(row: Mapping, prefix: str) -> Span | None:
    if row[f"{prefix}_type"] is None:
        return None
    return Span(int(row[f"{prefix}_start"]), int(row[f"{prefix}_end"]), str(row[f"{prefix}_type"]))


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Piece:
    """A (piece of a) marked span on a line: ``[start, end)``, ``order`` its rank."""

    start: int
    end: int
    order: int
    mark: MarkedSpan
    stop: int
    cut: bool = False


def render_line(text: str, marks: Sequence[MarkedSpan], type_index: Mapping[str, int]) -> str:
    """``text`` escaped, each span of ``marks`` in a ``<mark>``; nested spans nest, a span
    crossing another is cut at its border (pieces get class ``cut``). Span ends are
    clipped to the text; a span starting past its end is left out of the line."""
    pieces = [
        _Piece(
            m.span.start, min(m.span.end + 1, len(text)), order, m, min(m.span.end + 1, len(text))
        )
        for order, m in enumerate(marks)
        if 0 <= m.span.start < len(text)
    ]
    return _render(text, pieces, 0, len(text), type_index)


def _render(
    text: str, pieces: list[_Piece], low: int, high: int, type_index: Mapping[str, int]
) -> str:
    out: list[str] = []
    position = low
    items = sorted(pieces, key=lambda p: (p.start, -p.end, p.order))
    while items:
        head, rest = items[0], items[1:]
        inside: list[_Piece] = []
        after: list[_Piece] = []
        for piece in rest:
            if piece.start >= head.end:
                after.append(piece)
            elif piece.end <= head.end:
                inside.append(piece)
            else:  # crosses the head's end: cut in two
                inside.append(replace(piece, end=head.end, cut=True))
                after.append(replace(piece, start=head.end, cut=True))
        out.append(html.escape(text[position : head.start]))
        out.append(_open_mark(head, type_index))
        out.append(_render(text, inside, head.start, head.end, type_index))
        out.append("</mark>")
        position = head.end
        items = sorted(after, key=lambda p: (p.start, -p.end, p.order))
    out.append(html.escape(text[position:high]))
    return "".join(out)


def _open_mark(piece: _Piece, type_index: Mapping[str, int]) -> str:
    mark = piece.mark
    span = mark.span
    kinds = mark.kinds
    classes = ["ent", f"t{type_index.get(span.label, 0)}", "err" if kinds else "ok"]
    if piece.cut:
        classes.append("cut")
    verdict = ", ".join(KIND_NAMES[k] for k in kinds) if kinds else "correct"
    attributes = {
        "class": " ".join(classes),
        "data-type": span.label,
        "title": f"{span.label} [{span.start}, {span.end}]: {verdict}",
    }
    if kinds:
        attributes["data-kind"] = kinds[0]
        attributes["data-kinds"] = " ".join(kinds)
        if piece.end == piece.stop:  # the badge follows the last piece of a cut span
            attributes["data-badge"] = "/".join(BADGES[k] for k in kinds)
        attributes["data-errors"] = " ".join(e.id for e in mark.errors)
    return "<mark" + _attributes(attributes) + ">"


def _attributes(values: Mapping[str, str]) -> str:
    return "".join(f' {name}="{html.escape(value, quote=True)}"' for name, value in values.items())


def _describe(span: Span | None, text: str) -> str:
    if span is None:
        return '<span class="none">none</span>'
    return (
        f'<span class="ty">{html.escape(span.label)}</span> '
        f"<q>{html.escape(span.surface(text))}</q> "
        f'<span class="pos">[{span.start}, {span.end}]</span>'
    )


def _record_html(view: RecordView, type_index: Mapping[str, int]) -> str:
    kinds = sorted({e.category for e in view.errors}, key=ERROR_CATEGORIES.index)
    types = sorted({t for e in view.errors for t in e.types})
    items = []
    for error in view.errors:
        attributes = {
            "class": "error",
            "id": error.id,
            "data-kind": error.category,
            "data-types": json.dumps(list(error.types), ensure_ascii=False),
        }
        items.append(
            f"<li{_attributes(attributes)}>"
            f'<span class="badge k-{error.category}">{html.escape(BADGES[error.category])}</span> '
            f"<b>{html.escape(KIND_NAMES[error.category])}</b>: "
            f"gold {_describe(error.gold, view.gold_text)} &rarr; "
            f"predicted {_describe(error.pred, view.pred_text)}</li>"
        )
    attributes = {
        "class": "record",
        "data-id": str(view.id),
        "data-kinds": " ".join(kinds),
        "data-types": json.dumps(types, ensure_ascii=False),
    }
    count = len(view.errors)
    if not count:
        attributes["class"] = "record correct"
    return (
        f"<section{_attributes(attributes)}{' hidden' * (not count)}>"
        f"<h3>record {html.escape(str(view.id))} <small>"
        f"{f'{count} error' + 's' * (count != 1) if count else 'no error'}</small></h3>"
        '<div class="line"><span class="side">gold</span>'
        f'<span class="text gold">{render_line(view.gold_text, view.gold_marks, type_index)}'
        "</span></div>"
        '<div class="line"><span class="side">pred</span>'
        f'<span class="text pred">{render_line(view.pred_text, view.pred_marks, type_index)}'
        "</span></div>"
        + (f'<ul class="errors">{"".join(items)}</ul>' if items else "")
        + "</section>"
    )


def type_colour(index: int) -> str:
    """A light background colour per type index (golden-angle hues: any number of types)."""
    return f"hsl({round(index * 137.508) % 360}, 75%, 82%)"


STYLE = """
body{font-family:system-ui,sans-serif;margin:1em;color:#222;max-width:80em}
h1{font-size:1.3em}h3{font-size:.95em;margin:.2em 0;color:#555}
.summary{margin:.3em 0 .8em}
fieldset{display:inline-block;vertical-align:top;border:1px solid #ccc;margin:0 .6em .6em 0;
padding:.3em .6em}
fieldset label{display:inline-block;margin:.15em .5em .15em 0;white-space:nowrap}
.count{color:#666;font-size:.85em}
section.record{border-top:1px solid #ddd;padding:.4em 0}
.line{display:flex;gap:.6em;align-items:baseline;margin:.15em 0}
.side{flex:0 0 2.6em;font-size:.75em;color:#888;text-transform:uppercase}
.text{font-size:17px;line-height:2.1;word-break:break-all}
mark.ent{padding:2px 1px;border-radius:3px;color:inherit}
mark.ent mark.ent{padding:0 1px}
mark.ok{border-bottom:2px solid #2e7d32}
mark.err{border:2px dashed var(--kind);position:relative}
mark.err[data-badge]::after{content:attr(data-badge);font-size:10px;font-weight:bold;color:#fff;
background:var(--kind);border-radius:3px;padding:0 2px;margin-left:2px;vertical-align:super}
mark.cut{border-radius:0}
mark.err.off{border-style:dotted;opacity:.55}
ul.errors{margin:.2em 0 .2em 3.2em;padding:0;list-style:none;font-size:.85em}
.badge{display:inline-block;min-width:1.4em;text-align:center;color:#fff;border-radius:3px;
font-size:.8em;font-weight:bold;padding:0 2px}
.ty{font-family:monospace}.pos{color:#888}.none{color:#888;font-style:italic}
.legend span{display:inline-block;margin:0 .5em .2em 0;padding:0 .3em;border-radius:3px}
[hidden]{display:none!important}
"""

SCRIPT = """
(function () {
  const boxes = (name) => Array.from(document.querySelectorAll('input[name="' + name + '"]'));
  const checked = (name) => new Set(boxes(name).filter((b) => b.checked).map((b) => b.value));
  function apply() {
    const kinds = checked("kind"), types = checked("type");
    const correct = checked("correct").size > 0;
    let errors = 0, records = 0, clean = 0;
    for (const item of document.querySelectorAll("li.error")) {
      const ok = kinds.has(item.dataset.kind) &&
        JSON.parse(item.dataset.types).some((t) => types.has(t));
      item.hidden = !ok;
      if (ok) errors++;
    }
    for (const record of document.querySelectorAll("section.record")) {
      if (record.classList.contains("correct")) {
        record.hidden = !correct;
        if (correct) clean++;
        continue;
      }
      const any = record.querySelector("li.error:not([hidden])") !== null;
      record.hidden = !any;
      if (any) records++;
    }
    for (const mark of document.querySelectorAll("mark.err")) {
      const on = mark.dataset.errors.split(" ").some((id) => {
        const item = document.getElementById(id);
        return item !== null && !item.hidden;
      });
      mark.classList.toggle("off", !on);
    }
    const status = document.getElementById("status");
    status.textContent = errors + " errors in " + records + " records match the filters." +
      (correct ? " " + clean + " records without errors shown." : "");
    document.body.dataset.visibleErrors = String(errors);
    document.body.dataset.visibleRecords = String(records);
  }
  for (const box of document.querySelectorAll("input[name]")) box.addEventListener("change", apply);
  for (const button of document.querySelectorAll("button[data-set]")) {
    button.addEventListener("click", () => {
      for (const box of boxes(button.dataset.group)) box.checked = button.dataset.set === "all";
      apply();
    });
  }
  apply();
})();
"""


def _checkbox(
    group: str,
    value: str,
    label: str,
    count: int,
    total: int,
    css: str = "",
    checked: bool = True,
) -> str:
    shown = f"{count}" if count == total else f"{count} of {total}"
    style = f' style="{html.escape(css, quote=True)}"' if css else ""
    return (
        f'<label><input type="checkbox" name="{group}" value="{html.escape(value, quote=True)}"'
        f"{' checked' * checked}> <span{style}>{label}</span> "
        f'<span class="count">({shown})</span></label>'
    )


def _buttons(group: str) -> str:
    return (
        f'<button type="button" data-group="{group}" data-set="all">all</button> '
        f'<button type="button" data-group="{group}" data-set="none">none</button>'
    )


def error_browser_html(
    gold: Sequence[Record],
    pred: Sequence[Record],
    types: Sequence[str] = (),
    title: str = "Error browser",
    max_records: int = MAX_RECORDS,
    max_correct: int = MAX_CORRECT,
) -> str:
    """The error browser page of one run (see the module docstring).

    ``gold`` and ``pred`` are paired by id (:func:`nerflow.evaluation.pairs.align`, which
    raises on differing ids); ``types`` orders the entity types, and any other type found
    in the records follows, sorted. Records with errors are rendered in gold order, at most
    ``max_records`` of them; filter counts are "shown of all" when that cuts. The first
    ``max_correct`` records without errors are rendered hidden, for the check box that
    shows them.
    """
    pairs = align(gold, pred)
    all_types = scored_types(types, pairs)
    type_index = {t: i for i, t in enumerate(all_types)}
    views: list[RecordView] = []
    correct: list[RecordView] = []
    n_errors = 0
    for g, p in pairs:
        view = record_view(g, p, first_error=n_errors)
        (views if view.errors else correct).append(view)
        n_errors += len(view.errors)
    shown = views[: max(max_records, 0)]
    shown_correct = correct[: max(max_correct, 0)]
    all_errors = [e for v in views for e in v.errors]
    shown_errors = [e for v in shown for e in v.errors]

    def kind_count(errors: list[ErrorItem], kind: str) -> int:
        return sum(e.category == kind for e in errors)

    def type_count(errors: list[ErrorItem], entity_type: str) -> int:
        return sum(entity_type in e.types for e in errors)

    kind_boxes = " ".join(
        _checkbox(
            "kind",
            kind,
            f'<span class="badge k-{kind}">{BADGES[kind]}</span> {html.escape(KIND_NAMES[kind])}',
            kind_count(shown_errors, kind),
            kind_count(all_errors, kind),
        )
        for kind in ERROR_CATEGORIES
    )
    type_boxes = " ".join(
        _checkbox(
            "type",
            t,
            html.escape(t),
            type_count(shown_errors, t),
            type_count(all_errors, t),
            css=f"background:{type_colour(type_index[t])};padding:0 .3em;border-radius:3px",
        )
        for t in all_types
    )
    type_css = "".join(
        f"mark.t{i}{{background:{type_colour(i)}}}" for i in range(max(len(all_types), 1))
    )
    kind_css = "".join(
        f".k-{kind}{{background:{colour}}}mark.err[data-kind={kind}]{{--kind:{colour}}}"
        for kind, colour in KIND_COLOURS.items()
    )
    cut = (
        f" Only the first {len(shown)} are shown (gold order); filter counts read 'shown of all'."
        if len(shown) < len(views)
        else ""
    )
    summary = (
        f"{len(pairs)} dev records, {len(views)} with at least one error "
        f"({len(all_errors)} errors; {len(gold_matches(pairs))} gold spans predicted "
        f"exactly).{cut}"
    )
    legend = (
        "Gold spans on the first line, predicted spans on the second; background: entity "
        "type. Correct spans are underlined; an erroneous span has a dashed border in its "
        "kind's colour and its badge (a gold span carries the badge of the prediction error "
        "that was compared with it). Kinds are the error categories of the error table "
        f"(every wrong prediction is one error, every gold span left over one {MISSED} "
        "error); 'boundary + type' is a prediction with other boundaries and another type "
        "than the gold span it overlaps. An error passes the filters when its kind is "
        "checked and its gold or predicted type is checked."
    )
    body = "\n".join(_record_html(view, type_index) for view in [*shown, *shown_correct])
    if not views:
        empty = "No record has an error: every span is predicted exactly."
        body = f'<p class="summary">{empty}</p>\n{body}'
    correct_box = _checkbox(
        "correct", "show", "records without errors", len(shown_correct), len(correct), checked=False
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{STYLE}{type_css}{kind_css}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n"
        f'<p class="summary">{html.escape(summary)}</p>\n'
        f"<p><small>{html.escape(legend)}</small></p>\n"
        f"<form><fieldset><legend>error kind {_buttons('kind')}</legend>{kind_boxes}"
        f"</fieldset><fieldset><legend>entity type {_buttons('type')}</legend>{type_boxes}"
        f"</fieldset><fieldset><legend>also show</legend>{correct_box}</fieldset></form>\n"
        '<p id="status" class="summary"></p>\n'
        f'<main id="records">\n{body}\n</main>\n'
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )


def gold_matches(pairs: Sequence[tuple[Record, Record]]) -> list[Span]:
    """Gold spans predicted exactly (same boundaries and type), over all record pairs."""
    return [span for g, p in pairs for span in sorted(set(g.spans) & set(p.spans))]
