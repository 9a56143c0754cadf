"""Core data types: character spans and records, and CLUENER JSON-lines I/O.

Offsets follow the CLUENER convention everywhere in this package: ``start`` and
``end`` are character indices into the ORIGINAL text, ``end`` inclusive, so the
entity string is ``text[start : end + 1]``. Characters are Python ``str`` code
points (an astral-plane emoji is one character).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nerflow.errors import UserError

INPUT_FORMATS = ("auto", "text", "jsonl")
"""Formats of texts to tag: ``text`` (one text per line), ``jsonl`` (objects with a string
``text``), ``auto`` (``jsonl`` when the first non-blank line is such an object)."""


@dataclass(frozen=True, order=True)
class Span:
    """One entity mention: ``text[start : end + 1]`` of type ``label``."""

    start: int
    end: int  # inclusive
    label: str

    def surface(self, text: str) -> str:
        return text[self.start : self.end + 1]

    def overlaps(self, other: Span) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass
class Record:
    """A normalised record: stable id, original text and its spans (sorted)."""

    id: int | str
    text: str
    spans: list[Span] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"id": self.id, "text": self.text, "label": spans_to_label(self.text, self.spans)}


def spans_to_label(text: str, spans: Iterable[Span]) -> dict[str, dict[str, list[list[int]]]]:
    """Spans -> CLUENER ``label`` mapping {type: {surface: [[start, end], ...]}}."""
    label: dict[str, dict[str, list[list[int]]]] = {}
    for span in sorted(spans):
        positions = label.setdefault(span.label, {}).setdefault(span.surface(text), [])
        positions.append([span.start, span.end])
    return label


def label_to_spans(label: dict) -> list[Span]:
    """CLUENER ``label`` mapping -> sorted spans (no checks: see ``nerflow.validate``)."""
    return sorted(
        Span(int(start), int(end), entity_type)
        for entity_type, mentions in label.items()
        for positions in mentions.values()
        for start, end in positions
    )


def record_from_json(obj: dict, fallback_id: int | str) -> Record:
    """Build a record from an already validated JSON object."""
    return Record(
        id=obj.get("id", fallback_id),
        text=obj["text"],
        spans=label_to_spans(obj.get("label") or {}),
    )


def first_record_has_label(path: str | Path) -> bool:
    """Whether the first non-blank line of a JSON-lines file is an object with a ``label``
    (False for a missing or unreadable file: the validation stage reports those)."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            line = next((line for line in handle if line.strip()), "")
        obj = json.loads(line) if line else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(obj, dict) and "label" in obj


def read_records(path: str | Path) -> list[Record]:
    """Read validated/normalised JSON lines (one record per non-empty line).

    Records without ``id`` get their 0-based line number (CLUENER test files have ids).
    """
    return list(iter_records(path))


def iter_records(path: str | Path) -> Iterator[Record]:
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle):
            if line.strip():
                yield record_from_json(json.loads(line), line_number)


def write_records(path: str | Path, records: Iterable[Record]) -> int:
    """Write records as CLUENER JSON lines (with ``id``), returning how many were written."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json_line(record.to_json()))
            count += 1
    return count


def json_line(obj: object) -> str:
    """One JSON line (UTF-8 characters kept, not escaped)."""
    return json.dumps(obj, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: object) -> None:
    """Write pretty, UTF-8, key-sorted JSON (stable output for diffs and checksums)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2, sort_keys=True)
        handle.write("\n")


def entity_types(records: Iterable[Record]) -> list[str]:
    """Sorted set of entity types seen in ``records``."""
    return sorted({span.label for record in records for span in record.spans})


class InputError(ValueError, UserError):
    """A text to tag that cannot be read; the message is ``file:line: reason``."""


@dataclass(frozen=True)
class InputText:
    """One text to tag: its 1-based physical ``line``, the JSON object it came from
    (``{"text": line}`` for plain text; kept in the output) and its record (no spans)."""

    line: int
    fields: dict[str, Any]
    record: Record

    def output(self, spans: Iterable[Span]) -> dict[str, Any]:
        """The output line: the input object with ``id`` (added when missing) and ``label``
        (the predicted spans; a ``label`` of the input is replaced)."""
        out = {"id": self.record.id, **self.fields}
        out["label"] = spans_to_label(self.record.text, spans)
        return out


def _input_object(line: str) -> dict[str, Any] | None:
    """The line as a JSON object with a string ``text``, or None."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("text"), str) else None


def iter_input_texts(handle: TextIO, name: str, fmt: str = "auto") -> Iterator[InputText]:
    """Texts to tag from an open text file (see :data:`INPUT_FORMATS`), streamed.

    Blank lines are skipped. A text's id is its ``id`` field, else its 0-based physical
    line index. Plain text keeps every character of the line but the line break. Raises
    :class:`InputError` naming ``name:line`` for a JSON line that is not an object with a
    string ``text`` (in ``jsonl`` format, or ``auto`` once the first line was JSON), a bad
    ``id`` or undecodable bytes.
    """
    if fmt not in INPUT_FORMATS:
        raise ValueError(f"format must be one of {INPUT_FORMATS}, not {fmt!r}")
    number = 0
    lines = iter(handle)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise InputError(f"{name}:{number + 1}: invalid UTF-8 ({error.reason})") from None
        number += 1
        if not line.strip():
            continue
        if fmt == "auto":
            fmt = "jsonl" if _input_object(line) is not None else "text"
        if fmt == "text":
            text = line[:-1] if line.endswith("\n") else line
            yield InputText(number, {"text": text}, Record(id=number - 1, text=text))
            continue
        obj = _input_object(line)
        if obj is None:
            raise InputError(f"{name}:{number}: not a JSON object with a string 'text'")
        record_id = obj.get("id", number - 1)
        if isinstance(record_id, bool) or not isinstance(record_id, int | str):
            raise InputError(f"{name}:{number}: 'id' must be an integer or a string")
        yield InputText(number, obj, Record(id=record_id, text=obj["text"]))


def read_input_texts(path: str | Path, fmt: str = "auto") -> Iterator[InputText]:
    """:func:`iter_input_texts` of a file (UTF-8, a leading BOM ignored)."""
    with open(path, encoding="utf-8-sig") as handle:
        yield from iter_input_texts(handle, str(path), fmt)
