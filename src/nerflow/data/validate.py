"""Validation of CLUENER2020-style JSON-lines files (the first stage of the workflow).

Every line is checked for encoding, JSON syntax, the record schema
(``nerflow/data/schemas/record.schema.json``, package data) and span semantics: offsets inside the
text, ``start <= end``, ``text[start : end + 1]`` equal to the entity key (the checks and
reasons of :mod:`nerflow.data.spans`), known entity types and no overlapping spans (flat tags
cannot hold nested or crossing spans; an overlap policy may resolve them instead). Nothing is
dropped or repaired silently: rejected lines carry every reason found, repairs (BOM,
CRLF, blank lines, duplicate spans, resolved overlaps) are counted in the report and
listed as warnings.

Offsets follow ``nerflow.data.records``: character indices, ``end`` inclusive.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from nerflow.data.records import Record, Span
from nerflow.data.spans import (
    OVERLAP,
    OVERLAP_POLICIES,
    overlap_messages,
    resolve_overlaps,
    show,
    span_fault,
)
from nerflow.errors import UserError

ON_INVALID = ("fail", "skip")
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "record.schema.json"
BOM = b"\xef\xbb\xbf"

# Rejection kinds (stable keys of ``report["rejected_by_reason"]``), with the span
# reasons of ``nerflow.data.spans.REASONS``.
INVALID_UTF8 = "invalid_utf8"
NOT_JSON = "not_json"
DUPLICATE_KEY = "duplicate_key"
SCHEMA = "schema"
INVALID_TEXT = "invalid_text"
EMPTY_TEXT = "empty_text"
MISSING_LABEL = "missing_label"
UNKNOWN_TYPE = "unknown_type"
DUPLICATE_ID = "duplicate_id"

# Warning kinds (keys of ``report["warnings"]``).
WARN_BOM = "bom"
WARN_CRLF = "crlf"
WARN_BLANK_LINE = "blank_line"
WARN_DUPLICATE_SPAN = "duplicate_span"
WARN_OVERLAP_RESOLVED = "overlap_resolved"
WARN_EMPTY_FILE = "empty_file"


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


def load_record_schema(schema_path: str | Path | None = None) -> dict[str, Any]:
    """Load (and check) the record JSON Schema.

    Without ``schema_path`` the schema shipped with the package (:data:`SCHEMA_PATH`).
    """
    path = Path(SCHEMA_PATH if schema_path is None else schema_path)
    if not path.is_file():
        raise FileNotFoundError(f"record schema not found at {path}")
    with open(path, encoding="utf-8") as handle:
        schema = json.load(handle)
    Draft202012Validator.check_schema(schema)
    return schema


def _loads_checking_keys(line: str) -> tuple[Any, list[str]]:
    """``json.loads`` that also reports duplicate object keys (which it would drop)."""
    duplicates: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                duplicates.append(key)
            obj[key] = value
        return obj

    return json.loads(line, object_pairs_hook=hook), duplicates


@dataclass
class _Checked:
    """Semantic check of one schema-valid object."""

    reasons: list[tuple[str, str]]  # (kind, reason)
    spans: list[Span]  # deduplicated, structurally valid spans (before overlap resolution)
    duplicate_spans: list[Span]


def _check_object(
    obj: dict[str, Any],
    labels: frozenset[str] | None,
    require_labels: bool,
) -> _Checked:
    """Checks after the schema: text, spans, types, overlaps (reported, not resolved)."""
    reasons: list[tuple[str, str]] = []
    text: str = obj["text"]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        reasons.append((INVALID_TEXT, f"text is not encodable as UTF-8 ({error.reason})"))
    if not text.strip():
        reasons.append((EMPTY_TEXT, "empty text" if not text else "whitespace-only text"))
    if "label" not in obj:
        if require_labels:
            reasons.append((MISSING_LABEL, "missing label"))
        return _Checked(reasons, [], [])

    spans: list[Span] = []
    seen: set[Span] = set()
    duplicates: list[Span] = []
    for entity_type, mentions in obj["label"].items():
        if labels is not None and entity_type not in labels:
            reasons.append(
                (
                    UNKNOWN_TYPE,
                    f"unknown entity type {entity_type!r} (expected one of: "
                    f"{', '.join(sorted(labels))})",
                )
            )
        for key, positions in mentions.items():
            for start, end in positions:
                span = Span(int(start), int(end), entity_type)
                fault = span_fault(span, key, text)
                if fault is not None:
                    reasons.append(fault)
                    continue
                if span in seen:
                    duplicates.append(span)
                    continue
                seen.add(span)
                spans.append(span)
    spans.sort()
    return _Checked(reasons, spans, duplicates)


def _rejection(line_number: int, reasons: list[tuple[str, str]], raw: str) -> Rejection:
    """Bundle all ``(kind, reason)`` pairs of one line into a :class:`Rejection`."""
    texts = [reason for _, reason in reasons]
    kinds = list(dict.fromkeys(kind for kind, _ in reasons))
    return Rejection(line_number, "; ".join(texts), raw, kinds, texts)


def _split_lines(data: bytes) -> list[bytes]:
    """Split on ``\\n`` only (not on U+2028 and friends); no phantom last line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def validate_file(
    path: str | Path,
    *,
    split: str,
    labels: Sequence[str] | None,
    overlap_policy: str = "fail",
    require_labels: bool = True,
    schema_path: str | Path | None = None,
) -> ValidationResult:
    """Validate a CLUENER JSON-lines file line by line.

    ``labels``: allowed entity types (``None``: any type). ``overlap_policy``: ``fail``
    rejects records with overlapping/nested spans, ``keep_longest``/``keep_first`` keep a
    non-overlapping subset (see :func:`resolve_overlaps`) and count what they drop.
    ``require_labels=False`` (test split) accepts records without ``label``.
    Record ids: the record's ``id`` if present, else its 0-based line index.
    """
    if overlap_policy not in OVERLAP_POLICIES:
        raise ValueError(
            f"overlap_policy must be one of {OVERLAP_POLICIES}, not {overlap_policy!r}"
        )
    if labels is not None and not labels:
        raise ValueError("labels must not be empty; pass None to accept any entity type")
    allowed = frozenset(labels) if labels is not None else None
    validator = Draft202012Validator(load_record_schema(schema_path))

    data = Path(path).read_bytes()
    warnings: list[str] = []
    warning_counts: Counter[str] = Counter()
    if data.startswith(BOM):
        data = data[len(BOM) :]
        warning_counts[WARN_BOM] += 1
        warnings.append(f"{path}:1: UTF-8 byte order mark at start of file (stripped)")
    lines = _split_lines(data)
    if not lines:
        warning_counts[WARN_EMPTY_FILE] += 1
        warnings.append(f"{path}: file holds no lines")

    records: list[Record] = []
    rejected: list[Rejection] = []
    ids_seen: dict[int | str, int] = {}
    types_seen: set[str] = set()
    dropped_overlap = 0
    for line_number, raw_bytes in enumerate(lines, start=1):
        if raw_bytes.endswith(b"\r"):
            raw_bytes = raw_bytes[:-1]
            warning_counts[WARN_CRLF] += 1
        raw = raw_bytes.decode("utf-8", errors="backslashreplace")
        reasons: list[tuple[str, str]] = []
        try:
            line = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as error:
            reasons.append(
                (
                    INVALID_UTF8,
                    f"invalid UTF-8: byte 0x{raw_bytes[error.start]:02x} at byte "
                    f"{error.start} of the line ({error.reason})",
                )
            )
            rejected.append(_rejection(line_number, reasons, raw))
            continue
        if not line.strip():
            warning_counts[WARN_BLANK_LINE] += 1
            warnings.append(f"{path}:{line_number}: blank line skipped")
            continue
        try:
            obj, duplicate_keys = _loads_checking_keys(line)
        except json.JSONDecodeError as error:
            reasons.append((NOT_JSON, f"not valid JSON: {error.msg} (column {error.colno})"))
            rejected.append(_rejection(line_number, reasons, raw))
            continue
        reasons.extend(
            (DUPLICATE_KEY, f"duplicate JSON key {key!r} (the earlier value would be lost)")
            for key in duplicate_keys
        )
        schema_errors = sorted(validator.iter_errors(obj), key=lambda e: e.json_path)
        if schema_errors:
            reasons.extend(
                (SCHEMA, f"schema: {error.message} at {error.json_path}") for error in schema_errors
            )
            rejected.append(_rejection(line_number, reasons, raw))
            continue

        checked = _check_object(obj, allowed, require_labels)
        reasons.extend(checked.reasons)
        spans = checked.spans
        if overlap_policy == "fail":
            reasons.extend((OVERLAP, reason) for reason in overlap_messages(spans, obj["text"]))

        record_id: int | str = obj.get("id", line_number - 1)
        if isinstance(record_id, float):  # JSON Schema counts 2.0 as an integer
            record_id = int(record_id)
        if record_id in ids_seen:
            reasons.append(
                (DUPLICATE_ID, f"duplicate id {record_id!r} (first on line {ids_seen[record_id]})")
            )
        else:
            ids_seen[record_id] = line_number
        if reasons:
            rejected.append(_rejection(line_number, reasons, raw))
            continue

        for span in checked.duplicate_spans:
            warning_counts[WARN_DUPLICATE_SPAN] += 1
            warnings.append(
                f"{path}:{line_number}: duplicate span {show(span, obj['text'])} removed"
            )
        types_seen.update(span.label for span in spans)
        if overlap_policy != "fail":
            spans, dropped = resolve_overlaps(spans, overlap_policy)
            if dropped:
                warning_counts[WARN_OVERLAP_RESOLVED] += 1
                dropped_overlap += len(dropped)
                warnings.extend(
                    f"{path}:{line_number}: dropped overlapping span {show(span, obj['text'])} "
                    f"({overlap_policy})"
                    for span in dropped
                )
        records.append(Record(id=record_id, text=obj["text"], spans=spans))

    if warning_counts[WARN_CRLF]:
        warnings.append(
            f"{path}: {warning_counts[WARN_CRLF]} of {len(lines)} lines end with CRLF (accepted)"
        )
    report = _report(
        path,
        split,
        n_lines=len(lines),
        records=records,
        rejected=rejected,
        warning_counts=warning_counts,
        dropped_overlap=dropped_overlap,
        labels=sorted(allowed) if allowed is not None else sorted(types_seen),
    )
    return ValidationResult(records, rejected, warnings, report)


def _report(
    path: str | Path,
    split: str,
    *,
    n_lines: int,
    records: list[Record],
    rejected: list[Rejection],
    warning_counts: Counter[str],
    dropped_overlap: int,
    labels: list[str],
) -> dict[str, Any]:
    """Summary counts of one validated file (key-sorted where keys are data)."""
    by_reason = Counter(kind for rejection in rejected for kind in rejection.kinds)
    per_type = Counter(span.label for record in records for span in record.spans)
    lengths = [len(record.text) for record in records]
    return {
        "file": str(path),
        "split": split,
        "lines": n_lines,
        "records": len(records),
        "rejected": len(rejected),
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "entities": sum(per_type.values()),
        "entities_per_type": dict(sorted(per_type.items())),
        "warnings": dict(sorted(warning_counts.items())),
        "spans_dropped_overlap": dropped_overlap,
        "labels": labels,
        "chars_mean": round(sum(lengths) / len(lengths), 3) if lengths else 0.0,
        "chars_max": max(lengths, default=0),
    }


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
