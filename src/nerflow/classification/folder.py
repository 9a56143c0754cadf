"""The classifier model folder: ``classifier.json`` (what the folder holds: its task, kind,
labels, settings, training summary and format version) beside the kind's own files: the
linear model's arrays, or an emitter's weights with its tokenizer and feature assets.

A neural folder of a BERT-family encoder with ``cls`` pooling is no
``*ForSequenceClassification`` model (the emitter is a token classifier whose outputs are
pooled), so ``pipeline("text-classification")`` does not load it; ``nerflow predict`` does."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nerflow.errors import UserError
from nerflow.jsonio import write_json

CLASSIFIER_FILE = "classifier.json"
FOLDER_FORMAT = 1
KINDS = ("linear", "neural")


class ClassifierFolderError(ValueError, UserError):
    """A folder that is not a readable classifier folder."""


@dataclass(frozen=True)
class ClassifierMeta:
    """``classifier.json``."""

    kind: str
    labels: list[str]
    settings: dict[str, Any]
    emitter: str | None = None  # neural: the emitter's kind
    training: dict[str, Any] = field(default_factory=dict)
    task: str = "classification"
    format: int = FOLDER_FORMAT


def write_meta(folder: str | Path, meta: ClassifierMeta) -> None:
    write_json(Path(folder) / CLASSIFIER_FILE, asdict(meta))


def read_meta(folder: str | Path) -> ClassifierMeta:
    path = Path(folder) / CLASSIFIER_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ClassifierFolderError(f"{path}: not a readable classifier file ({error})") from None
    if not isinstance(data, dict) or data.get("task") != "classification":
        raise ClassifierFolderError(f"{path}: not a classifier folder's meta file")
    if data.get("format", 0) > FOLDER_FORMAT:
        raise ClassifierFolderError(
            f"{path}: format {data['format']} is newer than this nerflow reads ({FOLDER_FORMAT})"
        )
    if data.get("kind") not in KINDS:
        raise ClassifierFolderError(f"{path}: kind {data.get('kind')!r} is not one of {KINDS}")
    known = {name for name in ClassifierMeta.__dataclass_fields__}
    return ClassifierMeta(**{key: value for key, value in data.items() if key in known})
