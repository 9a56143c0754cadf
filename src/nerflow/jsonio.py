"""JSON in and out: one JSON line, JSON-lines files, and stable pretty JSON files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from nerflow.atomic import atomic_output


def json_line(obj: object) -> str:
    """One JSON line (UTF-8 characters kept, not escaped)."""
    return json.dumps(obj, ensure_ascii=False) + "\n"


def read_json(path: str | Path) -> object:
    """A JSON file of our own outputs (UTF-8)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_json(path: str | Path, obj: object) -> None:
    """Write pretty, UTF-8, key-sorted JSON (stable output for diffs and checksums)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2, sort_keys=True)
        handle.write("\n")


def write_json_lines(path: str | Path, rows: Iterable[object]) -> int:
    """Write ``rows`` as JSON lines; the file appears only when complete (atomically).
    The count of lines."""
    count = 0
    with atomic_output(path) as handle:
        for row in rows:
            handle.write(json_line(row))
            count += 1
    return count
