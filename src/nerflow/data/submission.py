"""CLUENER2020 submission files: ``cluener_predict.json`` lines and the upload zip.

Each line is ``{"id": N, "label": {type: {entity string: [[start, end], ...]}}}`` for a
test record, in the order of the test file, checked against
``nerflow/data/schemas/submission.schema.json`` (package data) and against the record's text.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import jsonschema

from nerflow.data.records import Record, spans_to_label

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "submission.schema.json"
SUBMISSION_NAME = "cluener_predict.json"


def submission_lines(records: Sequence[Record]) -> list[dict]:
    """One submission object per record; raises if a record has no integer id."""
    lines = []
    for position, record in enumerate(records):
        if isinstance(record.id, bool) or not isinstance(record.id, int):
            raise ValueError(
                f"record {position}: submission ids must be integers, got {record.id!r}"
            )
        lines.append({"id": record.id, "label": spans_to_label(record.text, record.spans)})
    return lines


def check_submission(
    lines: Sequence[dict], records: Sequence[Record], schema_path: str | Path = SCHEMA_PATH
) -> None:
    """Schema-check every line and check its spans against the matching record's text."""
    with open(schema_path, encoding="utf-8") as handle:
        validator = jsonschema.Draft202012Validator(json.load(handle))
    problems = []
    if len(lines) != len(records):
        problems.append(f"{len(lines)} submission lines for {len(records)} test records")
    for number, (line, record) in enumerate(zip(lines, records, strict=False), start=1):
        problems += [f"line {number}: {error.message}" for error in validator.iter_errors(line)]
        if line.get("id") != record.id:
            problems.append(f"line {number}: id {line.get('id')} but test record id {record.id}")
        for entity_type, mentions in line.get("label", {}).items():
            for surface, positions in mentions.items():
                for start, end in positions:
                    if record.text[start : end + 1] != surface:
                        problems.append(
                            f"line {number}: {entity_type} [{start}, {end}] is "
                            f"{record.text[start : end + 1]!r}, not {surface!r}"
                        )
    if problems:
        raise ValueError("invalid submission:\n" + "\n".join(problems[:50]))


def write_submission(records: Sequence[Record], json_path: str | Path, zip_path: str | Path) -> int:
    """Write and check ``cluener_predict.json`` and a zip holding it; return the line count."""
    lines = submission_lines(records)
    check_submission(lines, records)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    Path(json_path).write_text(text, encoding="utf-8")
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(SUBMISSION_NAME, text)
    return len(lines)
