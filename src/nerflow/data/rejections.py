"""What validation keeps and rejects: rejected lines with every reason, the result of a
file, the ``file:line: reason`` error and the rejected-lines file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerflow.data.records import Record
from nerflow.errors import UserError

ON_INVALID = ("fail", "skip")
DUPLICATE_ID = "duplicate_id"


@dataclass
class Rejection:
    """A rejected input line: 1-based line number, all reasons found, the raw line."""

    line: int
    reason: str  # every reason of this line, joined by "; "
    raw: str
    kinds: list[str] = field(default_factory=list)  # distinct reason kinds, in order found
    reasons: list[str] = field(default_factory=list)  # the reasons one by one

    def format(self, path: str | Path) -> str:
        """``path:line: reason``, the shape compilers and editors understand."""
        return f"{path}:{self.line}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "reasons": self.reasons or [self.reason],
            "kinds": self.kinds,
            "raw": self.raw,
        }


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_file`: valid records, rejections, warnings and a report."""

    records: list[Record]
    rejected: list[Rejection]
    warnings: list[str]
    report: dict[str, Any]


class ValidationError(UserError):
    """Raised by :func:`check_or_raise`; ``errors`` holds every ``file:line: reason``."""

    def __init__(self, errors: list[str], summary: str) -> None:
        self.errors = errors
        self.summary = summary
        super().__init__("\n".join([summary, *errors]))


def rejection(line_number: int, reasons: list[tuple[str, str]], raw: str) -> Rejection:
    """Bundle all ``(kind, reason)`` pairs of one line into a :class:`Rejection`."""
    texts = [reason for _, reason in reasons]
    kinds = list(dict.fromkeys(kind for kind, _ in reasons))
    return Rejection(line_number, "; ".join(texts), raw, kinds, texts)


def check_or_raise(result: ValidationResult, path: str | Path, on_invalid: str) -> None:
    """``on_invalid="fail"``: raise :class:`ValidationError` listing every rejection as
    ``path:line: reason``; ``"skip"``: return (rejections stay in the report/rejected file).
    """
    if on_invalid not in ON_INVALID:
        raise ValueError(f"on_invalid must be one of {ON_INVALID}, not {on_invalid!r}")
    if on_invalid == "skip" or not result.rejected:
        return
    errors = [rejection.format(path) for rejection in result.rejected]
    summary = (
        f"{path}: {len(errors)} invalid record(s) of {result.report.get('lines', '?')} lines "
        f"(on_invalid=fail; use on_invalid=skip to drop them):"
    )
    raise ValidationError(errors, summary)


def write_rejected(path: str | Path, rejections: Iterable[Rejection]) -> int:
    """Write rejections as JSON lines ``{"line", "reasons", "kinds", "raw"}``; return count."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for rejection in rejections:
            handle.write(json.dumps(rejection.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def duplicate_id(seen: dict[Any, int], record_id: Any, line: int) -> list[tuple[str, str]]:
    """The ``duplicate_id`` reason of ``record_id`` when an earlier line had it (``seen``
    maps ids to their first line), else none, and the id remembered."""
    if record_id in seen:
        return [(DUPLICATE_ID, f"duplicate id {record_id!r} (first on line {seen[record_id]})")]
    seen[record_id] = line
    return []
