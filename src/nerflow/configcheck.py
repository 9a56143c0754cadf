"""Config problems as one line each, named by the key's path (``experiments.x.train.lr``).

``snakemake.utils.validate`` fills the schema's defaults but reports a bad key inside a
dump of the whole schema; :func:`config_errors` is run first and says what is wrong where.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator


def key_path(parts: Any) -> str:
    """``["experiments", "x", "train"]`` -> ``experiments.x.train`` (``<config>`` at the top)."""
    return ".".join(str(part) for part in parts) or "<config>"


def config_errors(config: Mapping[str, Any], schema_path: str | Path) -> list[str]:
    """Every schema violation of ``config`` as ``path: message``, sorted by path."""
    with open(schema_path, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(map(str, e.path)))
    return [f"{key_path(error.absolute_path)}: {error.message}" for error in errors]


def window_errors(config: Mapping[str, Any]) -> list[str]:
    """Windows that cannot slide: a ``stride`` not smaller than the content tokens of a
    window (``max_len`` minus ``[CLS]`` and ``[SEP]``), in ``checks`` or an experiment."""
    blocks = [("checks", config.get("checks", {}))]
    blocks += [(f"experiments.{name}", cfg) for name, cfg in config.get("experiments", {}).items()]
    problems = []
    for where, block in blocks:
        max_len, stride = block.get("max_len"), block.get("stride")
        if isinstance(max_len, int) and isinstance(stride, int) and stride >= max_len - 2:
            problems.append(
                f"{where}.stride: {stride} must be smaller than max_len - 2 = {max_len - 2} "
                f"(the content tokens of a window); set a smaller stride"
            )
    return problems
