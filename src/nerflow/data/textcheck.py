"""Check a CLUENER prediction file against the source records it was predicted from.

This catches the classic offset bug where a predictor rebuilds the text with
``tokenizer.decode`` (spaces between characters, lower-cased Latin, ``[UNK]``) and
every span index then points into the wrong text. Offsets must index the ORIGINAL
source text, end inclusive: ``source_text[start : end + 1] == key``.

Both files are JSON lines (the source may also be plain text, one text per line); blank
lines are skipped (line numbers in the report are the physical, 1-based line numbers of the
prediction file). The k-th source record is paired with the k-th prediction line.
Prediction lines may omit ``id`` (then alignment is by line only) and ``text`` (then only
spans are checked); ``label`` is required (``{type: {key: [[start, end], ...]}}``, ``{}``
for none).
"""

from __future__ import annotations

import json
from pathlib import Path

from nerflow.data.records import Span
from nerflow.data.spans import CHECK_REASONS, span_fault
from nerflow.data.user_texts import InputError, iter_input_texts
from nerflow.errors import UserError

MAX_EXAMPLES = 20

REASONS: tuple[str, ...] = (
    "malformed_json",
    "missing_line",
    "extra_line",
    "id_mismatch",
    "text_mismatch",
    "bad_label",
    "bad_span",
    *CHECK_REASONS,
)
"""Problem reasons, the keys of the report's ``by_reason`` (lines with that problem); the
span reasons are those of :data:`nerflow.data.spans.REASONS`."""


class TextMismatchError(ValueError, UserError):
    """Raised by :func:`assert_clean` when predictions do not fit their source."""


def _read_lines(path: str | Path, name: str | None = None) -> list[tuple[int, str]]:
    """Non-blank lines of a UTF-8 file with their 1-based line numbers; a line that is not
    UTF-8 raises :class:`~nerflow.data.user_texts.InputError` naming it."""
    lines = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InputError(
                    f"{name or path}:{number}: invalid UTF-8 ({error.reason}): "
                    "not a prediction file"
                ) from None
            if line.strip():
                lines.append((number, line))
    return lines


def _first_difference(a: str, b: str) -> int:
    """Index of the first character where ``a`` and ``b`` differ (the shorter length if
    one is a prefix of the other)."""
    for index, (char_a, char_b) in enumerate(zip(a, b, strict=False)):
        if char_a != char_b:
            return index
    return min(len(a), len(b))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_label(label: object, text: str) -> list[tuple[str, str]]:
    """Problems ``(reason, detail)`` of a CLUENER ``label`` against the source text."""
    if not isinstance(label, dict):
        return [("bad_label", f"label is {type(label).__name__}, not an object")]
    problems: list[tuple[str, str]] = []
    for entity_type, mentions in label.items():
        if not isinstance(mentions, dict):
            problems.append(("bad_label", f"label[{entity_type!r}] is not an object"))
            continue
        for key, positions in mentions.items():
            if not isinstance(positions, list):
                problems.append(("bad_label", f"{entity_type} {key!r}: positions not a list"))
                continue
            for position in positions:
                if not (
                    isinstance(position, list)
                    and len(position) == 2
                    and all(_is_int(v) for v in position)
                ):
                    where = f"{entity_type} {key!r} {position!r}"
                    problems.append(("bad_span", f"{where}: not a pair of integers"))
                    continue
                fault = span_fault(Span(*position, entity_type), key, text)
                if fault is not None:
                    problems.append(fault)
    return problems


def _check_line(
    obj: object, source: dict, source_ids: dict[object, int], source_line: int
) -> list[tuple[str, str]]:
    """Problems ``(reason, detail)`` of one parsed prediction line against its source."""
    if not isinstance(obj, dict):
        return [("malformed_json", f"line is {type(obj).__name__}, not an object")]
    problems: list[tuple[str, str]] = []
    source_id = source.get("id")
    if "id" in obj and obj["id"] != source_id:
        elsewhere = source_ids.get(obj["id"]) if isinstance(obj["id"], (int, str)) else None
        hint = " (not in source)" if elsewhere is None else f" (at source line {elsewhere})"
        problems.append(
            (
                "id_mismatch",
                f"id {obj['id']!r} where source line {source_line} has id {source_id!r}{hint}",
            )
        )
    text = source["text"]
    if "text" in obj and obj["text"] != text:
        if isinstance(obj["text"], str):
            index = _first_difference(obj["text"], text)
            detail = (
                f"text differs from source at char {index}: "
                f"{obj['text'][index : index + 10]!r} vs {text[index : index + 10]!r}"
            )
        else:
            detail = f"text is {type(obj['text']).__name__}, not a string"
        problems.append(("text_mismatch", detail))
    if "label" not in obj:
        problems.append(("bad_label", "no 'label'"))
    else:
        problems.extend(_check_label(obj["label"], text))
    return problems


def check_predictions(
    source_path: str | Path,
    prediction_path: str | Path,
    source_format: str = "jsonl",
    names: tuple[str, str] | None = None,
) -> dict:
    """Check a prediction file against its source records; return a JSON-ready report.

    Report keys: ``source``, ``predictions`` (paths), ``lines_source``, ``lines_pred``
    (non-blank lines), ``records_checked`` (line pairs compared), ``mismatched_lines``
    (prediction lines with at least one problem, plus source lines without a prediction),
    ``mismatched_line_numbers`` (those prediction line numbers; missing lines count under
    the prediction line number they would have had), ``by_reason`` (lines per reason, all
    :data:`REASONS` present) and ``examples`` (the first :data:`MAX_EXAMPLES` problems as
    ``"path:line: reason: detail"``).

    ``source_format``: the source's format (:data:`nerflow.data.user_texts.INPUT_FORMATS`; plain
    text sources hold one text per line, the id of a text is its 0-based line index).
    Raises :class:`nerflow.data.user_texts.InputError` (a ``ValueError``) naming the line if the
    SOURCE file itself cannot be read in that format. ``names``: what messages and the
    report call the two files (default: their paths; ``<stdin>`` for a file that came
    from standard input).
    """
    source_name, prediction_name = names or (str(source_path), str(prediction_path))
    with open(source_path, encoding="utf-8-sig") as handle:
        inputs = list(iter_input_texts(handle, source_name, source_format))
    source_lines = [text.line for text in inputs]
    sources = [{"id": text.record.id, "text": text.record.text} for text in inputs]
    pred_lines = _read_lines(prediction_path, prediction_name)
    source_ids: dict[object, int] = {}
    for number, source in zip(source_lines, sources, strict=True):
        source_ids.setdefault(source["id"], number)

    by_reason = dict.fromkeys(REASONS, 0)
    examples: list[str] = []
    bad_lines: list[int] = []

    def report(line: int, problems: list[tuple[str, str]], path: str | Path) -> None:
        bad_lines.append(line)
        for reason in dict.fromkeys(reason for reason, _ in problems):
            by_reason[reason] += 1
        for reason, detail in problems:
            if len(examples) < MAX_EXAMPLES:
                examples.append(f"{path}:{line}: {reason}: {detail}")

    checked = 0
    for index, (number, line) in enumerate(pred_lines):
        if index >= len(sources):
            report(number, [("extra_line", "no source record for this line")], prediction_name)
            continue
        checked += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            report(number, [("malformed_json", str(error))], prediction_name)
            continue
        problems = _check_line(obj, sources[index], source_ids, source_lines[index])
        if problems:
            report(number, problems, prediction_name)
    last_pred_line = pred_lines[-1][0] if pred_lines else 0
    for offset, index in enumerate(range(len(pred_lines), len(sources)), 1):
        source_number = source_lines[index]
        detail = f"source line {source_number} (id {sources[index]['id']!r}) has no prediction"
        report(last_pred_line + offset, [("missing_line", detail)], prediction_name)

    return {
        "source": source_name,
        "predictions": prediction_name,
        "lines_source": len(source_lines),
        "lines_pred": len(pred_lines),
        "records_checked": checked,
        "mismatched_lines": len(bad_lines),
        "mismatched_line_numbers": bad_lines,
        "by_reason": by_reason,
        "examples": examples,
    }


def assert_clean(report: dict, max_mismatches: int = 0) -> None:
    """Raise :class:`TextMismatchError` if the report shows more than ``max_mismatches``
    mismatched lines, or any difference in line count (never tolerated: the files would
    not be aligned). The message names the prediction file, the lines and the reasons."""
    count_differs = report["lines_source"] != report["lines_pred"]
    if report["mismatched_lines"] <= max_mismatches and not count_differs:
        return
    numbers = report.get("mismatched_line_numbers", [])
    shown = ", ".join(str(n) for n in numbers[:30]) + (", ..." if len(numbers) > 30 else "")
    reasons = ", ".join(f"{r}={n}" for r, n in report["by_reason"].items() if n)
    lines = [
        f"{report['predictions']}: {report['mismatched_lines']} prediction line(s) do not fit "
        f"source {report['source']} (allowed: {max_mismatches}; lines: "
        f"{report['lines_pred']} predicted, {report['lines_source']} in source)",
        f"reasons: {reasons}",
        f"lines: {shown}",
        *report["examples"],
    ]
    raise TextMismatchError("\n".join(lines))
