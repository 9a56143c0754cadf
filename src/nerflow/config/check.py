"""The workflow's config: its problems as one line each, named by the key's path
(``experiments.x.train.lr``), and its experiments and pretraining runs completed from the
defaults of :mod:`nerflow.config.experiment`.

``snakemake.utils.validate`` reports a bad key inside a dump of the whole schema;
:func:`config_errors` is run first and says what is wrong where. Experiments and
pretraining runs are read by their dataclasses (:data:`BLOCKS`), whose messages come first
on what both check (keys, types, choices); the schema each block's dataclass generates
(:func:`nerflow.section.block_schema`) adds the bounds. The workflow's schema file holds
the rest of the config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from nerflow.config.experiment import ExperimentConfig
from nerflow.config.scratch import PretrainConfig
from nerflow.section import ConfigError, Section, block_schema

BLOCKS: dict[str, type[Section]] = {"experiments": ExperimentConfig, "pretraining": PretrainConfig}
"""Top-level mappings ``{name: block}`` whose blocks are dataclasses."""
WORKFLOW_KEYS = {
    "scheme": "the workflow sets it from tagging.scheme for every experiment",
    "feature_dir": "the workflow keeps feature assets in the tokenizer folder (results/inputs/KEY)",
}
""":class:`~nerflow.config.experiment.ExperimentConfig` fields the workflow sets, and why."""
DATACLASS_CHECKS = ("additionalProperties", "type", "enum", "required")
"""Schema checks that :meth:`~nerflow.section.Section.from_dict` makes on the blocks
too."""


def key_path(parts: Any) -> str:
    """``["experiments", "x", "train"]`` -> ``experiments.x.train`` (``<config>`` at the top)."""
    return ".".join(str(part) for part in parts) or "<config>"


def config_errors(config: Mapping[str, Any], schema_path: str | Path) -> list[str]:
    """Every problem of ``config`` as ``path: message``, sorted by path: what the
    dataclasses find in the experiment and pretraining blocks (:func:`block_errors`) and
    what else the schema finds (bounds, the other keys)."""
    with open(schema_path, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    problems = block_errors(config)
    errors = list(Draft202012Validator(schema).iter_errors(dict(config)))
    for top, section in BLOCKS.items():
        blocks = config.get(top)
        if not isinstance(blocks, Mapping):
            continue
        validator = Draft202012Validator(block_schema(section, WORKFLOW_KEYS))
        for name, block in blocks.items():
            for error in validator.iter_errors(block):
                if error.validator not in DATACLASS_CHECKS:
                    problems.append(
                        f"{key_path([top, name, *error.absolute_path])}: {error.message}"
                    )
    for error in errors:
        problems.append(f"{key_path(list(error.absolute_path))}: {error.message}")
    return sorted(problems, key=lambda line: line.split(": ", 1)[0])


def block_errors(config: Mapping[str, Any]) -> list[str]:
    """What :data:`BLOCKS`' dataclasses find wrong in the config's blocks (experiments may
    not set the :data:`WORKFLOW_KEYS`)."""
    problems: list[str] = []
    for top, section in BLOCKS.items():
        blocks = config.get(top)
        if not isinstance(blocks, Mapping):
            continue  # the schema says so
        reserved = WORKFLOW_KEYS if section is ExperimentConfig else None
        for name, block in blocks.items():
            try:
                section.from_dict(block, f"{top}.{name}", reserved)
            except ConfigError as error:
                problems += error.problems
    return problems


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` (already checked) with each experiment and pretraining run as its
    dataclass's ``to_dict()``: every default filled in, experiments with the scheme of
    ``tagging.scheme``."""
    scheme = config["tagging"]["scheme"]
    experiments = {
        name: ExperimentConfig.from_dict({**block, "scheme": scheme}, f"experiments.{name}")
        for name, block in config["experiments"].items()
    }
    pretraining = {
        name: PretrainConfig.from_dict(block, f"pretraining.{name}")
        for name, block in config["pretraining"].items()
    }
    return {
        **config,
        "experiments": {name: block.to_dict() for name, block in experiments.items()},
        "pretraining": {name: block.to_dict() for name, block in pretraining.items()},
    }


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


def missing_data(data: Mapping[str, Any], produced: Iterable[str]) -> str | None:
    """One line saying which configured data files do not exist and how to get them (None
    when all do); ``produced``: the files a rule of the workflow makes (the download)."""
    made = set(produced)
    missing = [
        f"data.{split} {path}"
        for split, path in data.items()
        if split in ("train", "dev", "test") and path and path not in made
        and not Path(path).is_file()
    ]  # fmt: skip
    if not missing:
        return None
    return (
        f"no such file: {'; '.join(missing)}. Put the CLUENER files there, point data.* at "
        "your copy, or use config/config.yaml, which downloads them (README, 'The data')"
    )
