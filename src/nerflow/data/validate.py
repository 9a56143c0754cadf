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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from nerflow.data.records import Record, Span
from nerflow.data.rejections import (
    Rejection,
    ValidationResult,
    duplicate_id,
    rejection,
)
from nerflow.data.spans import (
    OVERLAP,
    OVERLAP_POLICIES,
    overlap_messages,
    resolve_overlaps,
    show,
    span_fault,
)

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

# Warning kinds (keys of ``report["warnings"]``).
WARN_BOM = "bom"
WARN_CRLF = "crlf"
WARN_BLANK_LINE = "blank_line"
WARN_DUPLICATE_SPAN = "duplicate_span"
WARN_OVERLAP_RESOLVED = "overlap_resolved"
WARN_EMPTY_FILE = "empty_file"


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


def text_faults(text: str) -> list[tuple[str, str]]:
    """``(kind, reason)`` of a record's text that no stage can use: a lone surrogate
    (``json`` decodes ``\\ud800``) and empty or whitespace-only text."""
    faults = []
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        faults.append((INVALID_TEXT, f"text is not encodable as UTF-8 ({error.reason})"))
    if not text.strip():
        faults.append((EMPTY_TEXT, "empty text" if not text else "whitespace-only text"))
    return faults


def _check_object(
    obj: dict[str, Any],
    labels: frozenset[str] | None,
    require_labels: bool,
) -> _Checked:
    """Checks after the schema: text, spans, types, overlaps (reported, not resolved)."""
    text: str = obj["text"]
    reasons = text_faults(text)
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
    name: str | None = None,
) -> ValidationResult:
    """Validate a CLUENER JSON-lines file line by line (``name``: what messages and the
    report call it, default its path; ``<stdin>`` for standard input kept in a file).

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
    data = Path(path).read_bytes()
    path = name or str(path)
    run = _FilePass(
        path,
        Draft202012Validator(load_record_schema(schema_path)),
        allowed,
        overlap_policy,
        require_labels,
    )
    if data.startswith(BOM):
        data = data[len(BOM) :]
        run.warn(WARN_BOM, f"{path}:1: UTF-8 byte order mark at start of file (stripped)")
    lines = _split_lines(data)
    if not lines:
        run.warn(WARN_EMPTY_FILE, f"{path}: file holds no lines")
    for line_number, raw_bytes in enumerate(lines, start=1):
        run.line(line_number, raw_bytes)
    if run.warning_counts[WARN_CRLF]:
        run.warnings.append(
            f"{path}: {run.warning_counts[WARN_CRLF]} of {len(lines)} lines end with CRLF "
            "(accepted)"
        )
    report = _report(
        path,
        split,
        n_lines=len(lines),
        records=run.records,
        rejected=run.rejected,
        warning_counts=run.warning_counts,
        dropped_overlap=run.dropped_overlap,
        changed=(run.records_changed, run.dropped_overlap + run.dropped_duplicates),
        labels=sorted(allowed) if allowed is not None else sorted(run.types_seen),
    )
    return ValidationResult(run.records, run.rejected, run.warnings, report)


@dataclass
class _FilePass:
    """One pass of :func:`validate_file` over the lines of a file: what it kept, rejected
    and warned about so far."""

    path: str
    validator: Any
    allowed: frozenset[str] | None
    overlap_policy: str
    require_labels: bool
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    warning_counts: Counter[str] = field(default_factory=Counter)
    ids_seen: dict[int | str, int] = field(default_factory=dict)
    types_seen: set[str] = field(default_factory=set)
    dropped_overlap: int = 0
    dropped_duplicates: int = 0
    records_changed: int = 0

    def warn(self, kind: str, message: str | None = None) -> None:
        self.warning_counts[kind] += 1
        if message is not None:
            self.warnings.append(message)

    def line(self, number: int, raw_bytes: bytes) -> None:
        """Check one physical line: keep its record, or reject it with every reason."""
        if raw_bytes.endswith(b"\r"):
            raw_bytes = raw_bytes[:-1]
            self.warn(WARN_CRLF)
        raw = raw_bytes.decode("utf-8", errors="backslashreplace")
        reasons: list[tuple[str, str]] = []
        obj = self._parse(number, raw_bytes, reasons)
        if obj is None:
            if reasons:
                self.rejected.append(rejection(number, reasons, raw))
            return
        checked = _check_object(obj, self.allowed, self.require_labels)
        reasons.extend(checked.reasons)
        if self.overlap_policy == "fail":
            reasons.extend((OVERLAP, why) for why in overlap_messages(checked.spans, obj["text"]))
        record_id = self._record_id(obj, number, reasons)
        if reasons:
            self.rejected.append(rejection(number, reasons, raw))
            return
        self._keep(number, record_id, obj["text"], checked)

    def _parse(self, number: int, raw_bytes: bytes, reasons: list[tuple[str, str]]) -> Any:
        """The line's JSON object if it decodes, parses and fits the schema; else None with
        the reasons added (none for a blank line, which is skipped with a warning)."""
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
            return None
        if not line.strip():
            self.warn(WARN_BLANK_LINE, f"{self.path}:{number}: blank line skipped")
            return None
        try:
            obj, duplicate_keys = _loads_checking_keys(line)
        except json.JSONDecodeError as error:
            reasons.append((NOT_JSON, f"not valid JSON: {error.msg} (column {error.colno})"))
            return None
        reasons.extend(
            (DUPLICATE_KEY, f"duplicate JSON key {key!r} (the earlier value would be lost)")
            for key in duplicate_keys
        )
        schema_errors = sorted(self.validator.iter_errors(obj), key=lambda e: e.json_path)
        if schema_errors:
            reasons.extend(
                (SCHEMA, f"schema: {error.message} at {error.json_path}") for error in schema_errors
            )
            return None
        return obj

    def _record_id(self, obj: dict, number: int, reasons: list[tuple[str, str]]) -> int | str:
        record_id: int | str = obj.get("id", number - 1)
        if isinstance(record_id, float):  # JSON Schema counts 2.0 as an integer
            record_id = int(record_id)
        reasons.extend(duplicate_id(self.ids_seen, record_id, number))
        return record_id

    def _keep(self, number: int, record_id: int | str, text: str, checked: _Checked) -> None:
        """Keep a valid record: duplicate spans removed, overlaps resolved by the policy."""
        where = f"{self.path}:{number}"
        for span in checked.duplicate_spans:
            self.warn(WARN_DUPLICATE_SPAN, f"{where}: duplicate span {show(span, text)} removed")
        spans, dropped = checked.spans, []
        self.types_seen.update(span.label for span in spans)
        if self.overlap_policy != "fail":
            spans, dropped = resolve_overlaps(spans, self.overlap_policy)
            if dropped:
                self.warn(WARN_OVERLAP_RESOLVED)
                self.dropped_overlap += len(dropped)
                self.warnings.extend(
                    f"{where}: dropped overlapping span {show(span, text)} ({self.overlap_policy})"
                    for span in dropped
                )
        self.dropped_duplicates += len(checked.duplicate_spans)
        self.records_changed += bool(checked.duplicate_spans or dropped)
        self.records.append(Record(id=record_id, text=text, spans=spans))


def _report(
    path: str | Path,
    split: str,
    *,
    n_lines: int,
    records: list[Record],
    rejected: list[Rejection],
    warning_counts: Counter[str],
    dropped_overlap: int,
    changed: tuple[int, int],
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
        "records_changed": changed[0],
        "spans_dropped": changed[1],
        "labels": labels,
        "chars_mean": round(sum(lengths) / len(lengths), 3) if lengths else 0.0,
        "chars_max": max(lengths, default=0),
    }
