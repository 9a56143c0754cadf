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
            handle.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def write_json(path: str | Path, obj: object) -> None:
    """Write pretty, UTF-8, key-sorted JSON (stable output for diffs and checksums)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2, sort_keys=True)
        handle.write("\n")


def entity_types(records: Iterable[Record]) -> list[str]:
    """Sorted set of entity types seen in ``records``."""
    return sorted({span.label for record in records for span in record.spans})
