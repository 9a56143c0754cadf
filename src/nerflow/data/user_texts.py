"""Texts to tag from users: plain text or JSON lines, parsed and located by ``file:line``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from nerflow.data.records import Record, Span, spans_to_label
from nerflow.errors import UserError

INPUT_FORMATS = ("auto", "text", "jsonl")
"""Formats of texts to tag: ``text`` (one text per line), ``jsonl`` (objects with a string
``text``), ``auto`` (``jsonl`` when the first non-blank line is such an object)."""


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


def input_text(obj: Any, number: int, where: str) -> InputText:
    """The text to tag of a parsed JSON value: an object with a string ``text`` (its other
    fields kept) whose ``id`` (an integer or a string) defaults to ``number - 1``. Raises
    :class:`InputError` starting with ``where`` (``file:line``, or an item of a request)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise InputError(f"{where}: not a JSON object with a string 'text'")
    record_id = obj.get("id", number - 1)
    if isinstance(record_id, bool) or not isinstance(record_id, int | str):
        raise InputError(f"{where}: 'id' must be an integer or a string")
    return InputText(number, obj, Record(id=record_id, text=obj["text"]))


def _input_object(line: str) -> dict[str, Any] | None:
    """The line as a JSON object with a string ``text``, or None."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("text"), str) else None


def _auto_format(line: str, name: str, number: int) -> str:
    """The format ``auto`` picks from the first non-blank line: ``jsonl`` for an object
    with a string ``text``, ``text`` for anything that does not look like JSON. A line
    that looks like a JSON object but is no usable record is refused rather than tagged
    as one long text."""
    if _input_object(line) is not None:
        return "jsonl"
    if line.lstrip().startswith("{"):
        raise InputError(
            f"{name}:{number}: looks like JSON but is not an object with a string 'text' "
            "(the text format tags such lines as plain text)"
        )
    return "text"


def iter_input_texts(handle: TextIO, name: str, fmt: str = "auto") -> Iterator[InputText]:
    """Texts to tag from an open text file (see :data:`INPUT_FORMATS`; ``auto`` refuses a
    first line that looks like JSON but is no usable record), streamed.

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
            fmt = _auto_format(line, name, number)
        if fmt == "text":
            text = line[:-1] if line.endswith("\n") else line
            yield InputText(number, {"text": text}, Record(id=number - 1, text=text))
            continue
        yield input_text(_input_object(line), number, f"{name}:{number}")


def read_input_texts(path: str | Path, fmt: str = "auto") -> Iterator[InputText]:
    """:func:`iter_input_texts` of a file (UTF-8, a leading BOM ignored)."""
    with open(path, encoding="utf-8-sig") as handle:
        yield from iter_input_texts(handle, str(path), fmt)
