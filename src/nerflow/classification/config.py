"""The ``classification`` block of the workflow's config (``task: classification``): the
data files and how to read them, the label set, and the experiments (``kind: linear`` or
``kind: neural``). Read at parse time: no torch here."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from jsonschema import Draft202012Validator

from nerflow.classification.linear import LinearSettings
from nerflow.classification.settings import NeuralSettings
from nerflow.section import ConfigError, Section, block_schema, setting

KINDS: dict[str, type[Section]] = {"linear": LinearSettings, "neural": NeuralSettings}
"""Experiment kinds by name, with their settings block."""
RESULTS = "results/classification"
"""Where the task's outputs go, apart from the NER task's (``results/``)."""


@dataclasses.dataclass(frozen=True)
class DataFiles(Section):
    """The files of each split (``test`` optional; labelled or not)."""

    PATH = "classification.data"

    train: str
    dev: str
    test: str | None = None


@dataclasses.dataclass(frozen=True)
class ClassificationConfig(Section):
    """How the task reads its data (columns by name in TSV/CSV; ``text_column`` None: the
    first of ``text``, ``text_a``, ``review`` in the header), the label set (None: the
    labels of train) and what to do with invalid lines."""

    PATH = "classification"

    data: DataFiles
    dataset: str | None = setting(None, description="its name (null: the train file's folder)")
    format: Literal["auto", "tsv", "csv", "jsonl"] = "auto"
    text_column: str | None = setting(None, description="null: text, text_a or review")
    label_column: str = "label"
    labels: list | None = setting(None, description="class names (null: those of train)")
    test_labelled: bool | None = setting(None, description="null: if its first line has one")
    on_invalid: Literal["fail", "skip"] = "fail"
    experiments: dict = dataclasses.field(default_factory=dict)
    ensembles: dict = dataclasses.field(default_factory=dict)  # name: {members: [...]}
    run_experiments: list = dataclasses.field(default_factory=list)
    annotate: dict = dataclasses.field(default_factory=dict)  # {run, files: {name: path}, format}


def experiment_settings(name: str, mapping: Any) -> Section:
    """The settings block of experiment ``name`` (by its ``kind``, default ``neural``),
    with bounds checked; :class:`ConfigError` lists every problem by its key path."""
    path = f"classification.experiments.{name}"
    if not isinstance(mapping, Mapping):
        raise ConfigError([f"{path}: {mapping!r} is not of type 'object'"])
    body = dict(mapping)
    kind = body.pop("kind", "neural")
    if kind not in KINDS:
        raise ConfigError([f"{path}.kind: {kind!r} is not one of {sorted(KINDS)}"])
    block = KINDS[kind]
    settings = block.from_dict(body, path)
    problems = [
        f"{path}{''.join(f'.{part}' for part in error.absolute_path)}: {error.message}"
        for error in Draft202012Validator(block_schema(block)).iter_errors(body)
    ]
    stride, max_len = getattr(settings, "stride", None), getattr(settings, "max_len", None)
    if stride is not None and max_len is not None and stride >= max_len - 2:
        problems.append(
            f"{path}.stride: {stride} must be below max_len - 2 = {max_len - 2} (the tokens of "
            "a window but [CLS] and [SEP])"
        )
    if problems:
        raise ConfigError(problems)
    return settings


def kind_of(settings: Section) -> str:
    return next(name for name, block in KINDS.items() if isinstance(settings, block))


def read_config(config: Mapping[str, Any]) -> tuple[ClassificationConfig, dict[str, Section]]:
    """The block and its experiments' settings, each experiment's problems gathered."""
    block = ClassificationConfig.from_dict(config.get("classification") or {})
    problems, experiments = [], {}
    for name, mapping in block.experiments.items():
        try:
            experiments[name] = experiment_settings(str(name), mapping)
        except ConfigError as error:
            problems.extend(error.problems)
    for name, ensemble in block.ensembles.items():
        members = ensemble.get("members") if isinstance(ensemble, Mapping) else None
        where = f"classification.ensembles.{name}"
        if not isinstance(members, list) or len(members) < 2:
            problems.append(f"{where}.members: a list of at least two experiments")
        elif sorted(set(members) - set(block.experiments)):
            unknown = sorted(set(members) - set(block.experiments))
            problems.append(f"{where}.members: {unknown} are not experiments")
        if name in block.experiments:
            problems.append(f"{where}: the name of an experiment too")
    unknown = sorted(set(block.run_experiments) - set(block.experiments) - set(block.ensembles))
    if unknown:
        problems.append(f"classification.run_experiments: unknown experiments {unknown}")
    problems.extend(annotate_problems(block))
    if not block.experiments:
        problems.append("classification.experiments: no experiment configured")
    if problems:
        raise ConfigError(problems)
    return block, experiments


def annotate_problems(block: ClassificationConfig) -> list[str]:
    """What is wrong with the ``annotate`` block: ``run`` (null: the first run),
    ``files`` ``{name: path}`` and ``format`` (``auto``, ``text``, ``jsonl``)."""
    where, annotate = "classification.annotate", block.annotate
    unknown = sorted(set(annotate) - {"run", "files", "format"})
    problems = [f"{where}.{key}: unknown key; allowed: run, files, format" for key in unknown]
    run = annotate.get("run")
    if run is not None and run not in block.experiments and run not in block.ensembles:
        problems.append(f"{where}.run: {run!r} is neither an experiment nor an ensemble")
    if not isinstance(annotate.get("files", {}), Mapping):
        problems.append(f"{where}.files: a mapping {{name: path}}")
    if annotate.get("format", "auto") not in ("auto", "text", "jsonl"):
        problems.append(f"{where}.format: {annotate['format']!r} is not one of auto, text, jsonl")
    return problems
