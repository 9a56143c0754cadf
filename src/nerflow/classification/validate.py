"""Validation of classification files: TSV, CSV or JSON lines of labelled texts.

TSV and CSV files start with a header line naming their columns: the text column
(``text_column``, else the first of :data:`TEXT_COLUMNS` in the header), the label column
(``label_column``; it may be absent from an unlabelled split) and an optional ``id``
column; other columns are ignored. Every data line is one record: a quoted field cannot
span lines (a text holding a line break belongs in JSON lines). TSV fields are split on
tabs with no quoting at all (review texts hold quote characters); CSV fields follow the
csv module's default quoting, strictly. JSON lines hold one object per line with
``text``, ``label`` (a string, or an integer taken as its decimal string) and ``id``.

Every line is checked for encoding, syntax, its fields, the text (kept verbatim: no
stripping, a U+FEFF inside stays) and the label; nothing is dropped or repaired silently:
a rejected line carries every reason found (kinds in :data:`REASONS`), repairs (a BOM at
the start of the file, CRLF line ends, blank lines) are counted in the report and listed
as warnings. Ids: the ``id`` field or column, else the record's 0-based index among the
data lines (blank lines included, as in :func:`nerflow.data.validate.validate_file`).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerflow.classification.examples import Example, ExampleFileError
from nerflow.classification.examples import LabelSetError as LabelSetError
from nerflow.classification.examples import label_set as label_set
from nerflow.classification.examples import split_overlap as split_overlap
from nerflow.data.rejections import (
    DUPLICATE_ID,
    Rejection,
    ValidationResult,
    duplicate_id,
    rejection,
)
from nerflow.data.validate import EMPTY_TEXT, INVALID_TEXT, text_faults

FORMATS = ("auto", "tsv", "csv", "jsonl")
SUFFIXES = {".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
TEXT_COLUMNS = ("text", "text_a", "review")
ID_COLUMN = "id"
BOM = b"\xef\xbb\xbf"
# A CSV line whose quotes all open, close or double quoted fields: a quote inside an
# unquoted field is what the second line of a quoted field broken over two lines holds.
CSV_FIELD = r'(?:"(?:[^"]|"")*"|[^",]*)'
CSV_LINE = re.compile(rf"{CSV_FIELD}(?:,{CSV_FIELD})*")

# Rejection kinds (stable keys of ``report["rejected_by_reason"]``).
INVALID_UTF8 = "invalid_utf8"
NOT_JSON = "not_json"
DUPLICATE_KEY = "duplicate_key"
QUOTING = "quoting"
MISSING_FIELD = "missing_field"
EXTRA_FIELD = "extra_field"
INVALID_LABEL = "invalid_label"
MISSING_LABEL = "missing_label"
UNKNOWN_LABEL = "unknown_label"
INVALID_ID = "invalid_id"
REASONS = (
    INVALID_UTF8,
    NOT_JSON,
    DUPLICATE_KEY,
    QUOTING,
    MISSING_FIELD,
    EXTRA_FIELD,
    INVALID_TEXT,
    EMPTY_TEXT,
    INVALID_LABEL,
    MISSING_LABEL,
    UNKNOWN_LABEL,
    INVALID_ID,
    DUPLICATE_ID,
)

# Warning kinds (keys of ``report["warnings"]``).
WARN_BOM = "bom"
WARN_CRLF = "crlf"
WARN_BLANK_LINE = "blank_line"
WARN_EMPTY_FILE = "empty_file"


def detect_format(path: str | Path, lines: Sequence[bytes]) -> str:
    """``tsv``, ``csv`` or ``jsonl`` by the suffix of ``path``, else by the first non-blank
    line: ``{`` first is JSON lines, a tab TSV, anything else CSV."""
    by_suffix = SUFFIXES.get(Path(path).suffix.lower())
    if by_suffix is not None:
        return by_suffix
    first = next((line for line in lines if line.strip()), b"").decode("utf-8", "replace")
    if first.lstrip().startswith("{"):
        return "jsonl"
    return "tsv" if "\t" in first else "csv"


@dataclass(frozen=True)
class _Layout:
    """Where a file keeps its fields: format, header line (0: none) and column names."""

    file_format: str
    text_column: str
    label_column: str | None  # None: an unlabelled TSV/CSV without a label column
    header: tuple[str, ...] = ()
    header_line: int = 0

    def reader(self, line: str) -> list[str]:
        """The fields of one TSV/CSV line (``csv.Error`` for broken quoting)."""
        if self.file_format == "tsv":
            return next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
        row = next(csv.reader([line], strict=True))
        if '"' in line and not CSV_LINE.fullmatch(line):  # the csv module would keep it
            raise csv.Error("a quote inside an unquoted field (quote the field, double its quotes)")
        return row


def _header_layout(
    path: str,
    lines: list[bytes],
    file_format: str,
    columns: tuple[str | None, str],
    require_labels: bool,
) -> _Layout:
    """The layout a TSV/CSV header line gives, or :class:`ExampleFileError` at the header
    (``columns``: the configured text column, if any, and the label column)."""
    number = next((n for n, line in enumerate(lines, start=1) if line.strip()), 0)
    if not number:
        raise ExampleFileError(f"{path}:1: no header line (the file holds no text)")
    layout = _Layout(file_format, "", None, header_line=number)
    try:
        header = tuple(name.strip() for name in layout.reader(lines[number - 1].decode("utf-8")))
    except (UnicodeDecodeError, csv.Error) as error:
        raise ExampleFileError(f"{path}:{number}: unreadable header line ({error})") from error
    text_column, label_column = columns
    where, shown = f"{path}:{number}", list(header)
    if text_column is None:
        candidates = [name for name in TEXT_COLUMNS if name in header and name != label_column]
        text_column = next(iter(candidates), None)
        if text_column is None:
            raise ExampleFileError(
                f"{where}: no text column: the header has {shown}, none of "
                f"{list(TEXT_COLUMNS)}; set text_column"
            )
    elif text_column not in header:
        raise ExampleFileError(f"{where}: no text column {text_column!r}: the header has {shown}")
    if label_column not in header and require_labels:
        raise ExampleFileError(
            f"{where}: no label column {label_column!r}: the header has {shown}; set "
            "label_column (or require_labels=False for an unlabelled split)"
        )
    for name in (text_column, label_column, ID_COLUMN):
        if header.count(name) > 1:
            raise ExampleFileError(f"{where}: column {name!r} appears twice in {shown}")
    used_label = label_column if label_column in header else None
    return _Layout(file_format, text_column, used_label, header, number)


def validate_examples(
    path: str | Path,
    *,
    split: str,
    labels: Sequence[str] | None,
    require_labels: bool = True,
    text_column: str | None = None,
    label_column: str = "label",
    file_format: str = "auto",
    name: str | None = None,
) -> ValidationResult:
    """Validate a classification file line by line; ``records`` are :class:`Example`\\ s.

    ``labels``: the allowed classes (``None``: any). ``require_labels=False`` (test split)
    accepts records without a label (a present one is still checked). ``file_format``: one
    of :data:`FORMATS`. ``text_column``/``label_column``: the column (JSON lines: the key)
    of the text and the label. ``name``: what messages and the report call the file.
    A TSV/CSV file without a usable header raises :class:`ExampleFileError`.
    """
    if file_format not in FORMATS:
        raise ValueError(f"file_format must be one of {FORMATS}, not {file_format!r}")
    if labels is not None and not labels:
        raise ValueError("labels must not be empty; pass None to accept any label")
    if text_column == label_column:
        raise ValueError(f"text_column and label_column are both {label_column!r}")
    data = Path(path).read_bytes()
    shown = name or str(path)
    run = _FilePass(shown, frozenset(labels) if labels is not None else None, require_labels)
    if data.startswith(BOM):
        data = data[len(BOM) :]
        run.warn(WARN_BOM, f"{shown}:1: UTF-8 byte order mark at start of file (stripped)")
    lines = data.split(b"\n") if data else []
    if lines and lines[-1] == b"":
        lines.pop()
    crlf = sum(line.endswith(b"\r") for line in lines)
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    found = detect_format(path, lines) if file_format == "auto" else file_format
    if found == "jsonl":
        if (text_column or "text") == label_column:
            raise ValueError("label_column 'text' needs another text_column")
        run.layout = _Layout(found, text_column or "text", label_column)
    else:
        columns = (text_column, label_column)
        run.layout = _header_layout(shown, lines, found, columns, require_labels)
    for number, raw_bytes in enumerate(lines, start=1):
        if number != run.layout.header_line:
            run.line(number, raw_bytes)
    if len(lines) <= run.layout.header_line:
        run.warn(WARN_EMPTY_FILE, f"{shown}: file holds no data lines")
    if crlf:
        run.warning_counts[WARN_CRLF] = crlf
        run.warnings.append(f"{shown}: {crlf} of {len(lines)} lines end with CRLF (accepted)")
    seen = sorted({example.label for example in run.records if example.label is not None})
    report = _report(
        run, split, n_lines=len(lines) - run.layout.header_line, labels=sorted(set(labels or seen))
    )
    return ValidationResult(run.records, run.rejected, run.warnings, report)


@dataclass
class _FilePass:
    """One pass of :func:`validate_examples` over the lines of a file: what it kept,
    rejected and warned about so far."""

    path: str
    allowed: frozenset[str] | None
    require_labels: bool
    layout: _Layout = _Layout("jsonl", "text", "label")
    records: list[Example] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    warning_counts: Counter[str] = field(default_factory=Counter)
    ids_seen: dict[int | str, int] = field(default_factory=dict)

    def warn(self, kind: str, message: str) -> None:
        self.warning_counts[kind] += 1
        self.warnings.append(message)

    def line(self, number: int, raw_bytes: bytes) -> None:
        """Check one physical line (CR already removed): keep its example, or reject it
        with every reason found."""
        raw = raw_bytes.decode("utf-8", errors="backslashreplace")
        try:
            line = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as error:
            reason = (
                f"invalid UTF-8: byte 0x{raw_bytes[error.start]:02x} at byte "
                f"{error.start} of the line ({error.reason})"
            )
            self.rejected.append(rejection(number, [(INVALID_UTF8, reason)], raw))
            return
        if not line.strip():
            self.warn(WARN_BLANK_LINE, f"{self.path}:{number}: blank line skipped")
            return
        reasons: list[tuple[str, str]] = []
        if self.layout.header:
            fields = self._row_fields(line, reasons)
        else:
            fields = self._json_fields(line, reasons)
        if fields is None:
            self.rejected.append(rejection(number, reasons, raw))
            return
        text, label = self._text(fields, reasons), self._label(fields, reasons)
        example_id = self._example_id(fields, number, reasons)
        if reasons:
            self.rejected.append(rejection(number, reasons, raw))
            return
        self.records.append(Example(example_id, text, label))

    def _row_fields(self, line: str, reasons: list[tuple[str, str]]) -> dict[str, Any] | None:
        """The text, label and id of a TSV/CSV line by its header (None: unusable)."""
        header = self.layout.header
        try:
            row = self.layout.reader(line)
        except csv.Error as error:
            why = "a carriage return inside the line" if "\r" in line else str(error)
            reasons.append((QUOTING, f"broken {self.layout.file_format.upper()} quoting: {why}"))
            return None
        if len(row) != len(header):
            kind = MISSING_FIELD if len(row) < len(header) else EXTRA_FIELD
            names = header[len(row) :] if len(row) < len(header) else row[len(header) :]
            what = "missing column(s)" if kind == MISSING_FIELD else "extra value(s)"
            reasons.append(
                (kind, f"{len(row)} fields, the header has {len(header)} ({what}: {list(names)})")
            )
            return None
        values = dict(zip(header, row, strict=True))
        wanted = (self.layout.text_column, self.layout.label_column, ID_COLUMN)
        return {
            key: values[column]
            for key, column in zip(("text", "label", "id"), wanted, strict=True)
            if column in values
        }

    def _json_fields(self, line: str, reasons: list[tuple[str, str]]) -> dict[str, Any] | None:
        """The text, label and id of a JSON line (None: not a JSON object)."""
        duplicates: list[str] = []

        def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            duplicates.extend(key for key, _ in pairs if sum(k == key for k, _ in pairs) > 1)
            return dict(pairs)

        try:
            obj = json.loads(line, object_pairs_hook=pairs_hook)
        except json.JSONDecodeError as error:
            reasons.append((NOT_JSON, f"not valid JSON: {error.msg} (column {error.colno})"))
            return None
        if not isinstance(obj, dict):
            reasons.append((NOT_JSON, f"not a JSON object but {type(obj).__name__}"))
            return None
        reasons.extend(
            (DUPLICATE_KEY, f"duplicate JSON key {key!r} (the earlier value would be lost)")
            for key in dict.fromkeys(duplicates)
        )
        keys = {"text": self.layout.text_column, "label": self.layout.label_column, "id": "id"}
        extra = [key for key in obj if key not in keys.values()]
        if extra:
            reasons.append((EXTRA_FIELD, f"unexpected field(s) {extra}"))
        return {role: obj[key] for role, key in keys.items() if key in obj}

    def _text(self, fields: dict[str, Any], reasons: list[tuple[str, str]]) -> str:
        if "text" not in fields:
            reasons.append((MISSING_FIELD, f"missing field {self.layout.text_column!r}"))
            return ""
        text = fields["text"]
        if not isinstance(text, str):
            reasons.append((INVALID_TEXT, f"text must be a string, not {text!r}"))
            return ""
        reasons.extend(text_faults(text))
        return text

    def _label(self, fields: dict[str, Any], reasons: list[tuple[str, str]]) -> str | None:
        label = fields.get("label")
        if isinstance(label, int) and not isinstance(label, bool):
            label = str(label)
        if label is not None and not isinstance(label, str):
            reasons.append((INVALID_LABEL, f"label must be a string or an integer, not {label!r}"))
            return None
        if label is None or not label.strip():
            if self.require_labels:
                reasons.append((MISSING_LABEL, "missing label" if label is None else "empty label"))
            return None
        if self.allowed is not None and label not in self.allowed:
            reasons.append(
                (
                    UNKNOWN_LABEL,
                    f"unknown label {label!r} (expected one of: {sorted(self.allowed)})",
                )
            )
        return label

    def _example_id(
        self, fields: dict[str, Any], number: int, reasons: list[tuple[str, str]]
    ) -> int | str:
        example_id = fields.get("id", number - self.layout.header_line - 1)
        if (
            isinstance(example_id, bool)
            or not isinstance(example_id, int | str)
            or example_id == ""
        ):
            reasons.append(
                (INVALID_ID, f"id must be an integer or a non-empty string, not {example_id!r}")
            )
            return number - self.layout.header_line - 1
        reasons.extend(duplicate_id(self.ids_seen, example_id, number))
        return example_id


def _report(run: _FilePass, split: str, *, n_lines: int, labels: list[str]) -> dict[str, Any]:
    """Summary counts of one validated file (key-sorted where keys are data)."""
    by_reason = Counter(kind for rejected in run.rejected for kind in rejected.kinds)
    classes = Counter(example.label for example in run.records if example.label is not None)
    lengths = [len(example.text) for example in run.records]
    return {
        "file": run.path,
        "split": split,
        "format": run.layout.file_format,
        "text_column": run.layout.text_column,
        "label_column": run.layout.label_column,
        "lines": n_lines,
        "records": len(run.records),
        "rejected": len(run.rejected),
        "rejected_by_reason": dict(sorted(by_reason.items())),
        "warnings": dict(sorted(run.warning_counts.items())),
        "labels": labels,
        "class_counts": dict(sorted(classes.items())),
        "chars_mean": round(sum(lengths) / len(lengths), 3) if lengths else 0.0,
        "chars_max": max(lengths, default=0),
    }
