"""Core data types: character spans and records, and the CLUENER ``label`` mapping.

Offsets follow the CLUENER convention everywhere in this package: ``start`` and
``end`` are character indices into the ORIGINAL text, ``end`` inclusive, so the
entity string is ``text[start : end + 1]``. Characters are Python ``str`` code
points (an astral-plane emoji is one character).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


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
    """CLUENER ``label`` mapping -> sorted spans (no checks: see ``nerflow.data.validate``)."""
    return sorted(
        Span(int(start), int(end), entity_type)
        for entity_type, mentions in label.items()
        for positions in mentions.values()
        for start, end in positions
    )


def entity_types(records: Iterable[Record]) -> list[str]:
    """Sorted set of entity types seen in ``records``."""
    return sorted({span.label for record in records for span in record.spans})
