"""The label set file (``results/data/labels.json``): the entity types every later stage
uses, fixed once from the config or from train."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from nerflow.errors import UserError
from nerflow.jsonio import write_json


class LabelFileError(ValueError, UserError):
    """A label file that does not hold a list of type names."""


def write_labels(
    path: str | Path, labels: Sequence[str], source: str, types_in_train: Sequence[str]
) -> None:
    """``{"labels": [...], "source": "config" | "train", "types_in_train": [...]}``."""
    write_json(
        path, {"labels": list(labels), "source": source, "types_in_train": list(types_in_train)}
    )


def read_labels(path: str | Path) -> list[str]:
    """The entity types of a label file: ``{"labels": [...]}`` as :func:`write_labels`
    writes it, or a plain JSON list of type names."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LabelFileError(f"{path}: not a readable JSON label file ({error})") from None
    labels = data.get("labels") if isinstance(data, dict) else data
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise LabelFileError(f"{path}: expected a list of type names or {{'labels': [...]}}")
    return labels
