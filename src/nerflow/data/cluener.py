"""CLUENER JSON-lines files: reading and writing validated records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from nerflow.data.records import Record, label_to_spans
from nerflow.jsonio import json_line


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
