"""JSON output: one JSON line, and stable pretty JSON files."""

from __future__ import annotations

import json
from pathlib import Path


def json_line(obj: object) -> str:
    """One JSON line (UTF-8 characters kept, not escaped)."""
    return json.dumps(obj, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: object) -> None:
    """Write pretty, UTF-8, key-sorted JSON (stable output for diffs and checksums)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2, sort_keys=True)
        handle.write("\n")
