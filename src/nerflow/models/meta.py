"""``nerflow_head.json``: what a model folder says of itself, as one typed record with one
reader and one writer.

Format 2 (this one) nests the head's own settings under ``head_settings``. Format 1 (the
folders saved before the format had a number, which carry no ``format`` key) kept them at
the top level (as every head's settings were then), beside whatever
training added; :func:`read_model_meta` reads both.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nerflow.heads.registry import head_setting_names

HEAD_FILE = "nerflow_head.json"
MODEL_FORMAT = 2


@dataclasses.dataclass(frozen=True)
class ModelMeta:
    """A model folder's description. ``head_settings``: the head's own (see
    :meth:`nerflow.models.head.Head.settings`); ``features``: the featurizer's description
    (None without features); ``train_nesting`` and ``training``: what training found and
    its summary (None for a folder saved otherwise)."""

    emitter: str
    head: str
    scheme: str
    labels: list[str]
    tokenization: str
    max_len: int
    stride: int | None = None
    head_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    features: dict[str, Any] | None = None
    train_nesting: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    format: int = MODEL_FORMAT

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = HEAD_FILE) -> ModelMeta:
        """A meta read from its JSON object (format 1 or 2)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: not a JSON object")
        version = data.get("format", 1)
        if version not in (1, MODEL_FORMAT):
            raise ValueError(f"{where}: format {version!r} is newer than this nerflow reads")
        values = dict(data)
        if version == 1:
            values["head_settings"] = {
                key: values.pop(key) for key in head_setting_names() if key in values
            }
            values.setdefault("emitter", "transformers")
            values["format"] = MODEL_FORMAT
        known = {field.name for field in dataclasses.fields(cls)}
        missing = sorted(
            field.name
            for field in dataclasses.fields(cls)
            if field.name not in values
            and field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
        )
        if missing:
            raise ValueError(f"{where}: lacks {', '.join(missing)}")
        return cls(**{key: value for key, value in values.items() if key in known})


def write_model_meta(folder: Path, meta: ModelMeta) -> Path:
    path = folder / HEAD_FILE
    text = json.dumps(meta.to_json(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def read_model_meta(folder: Path) -> ModelMeta:
    path = folder / HEAD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from None
    return ModelMeta.from_json(data, str(path))
