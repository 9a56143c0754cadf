"""What the classification rule family reads from the config at parse time: the block,
its experiments with every default filled in, the splits and the runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerflow.classification.config import ClassificationConfig, kind_of, read_config
from nerflow.errors import UserError
from nerflow.section import Section

SPLITS = ("train", "dev", "test")


class MissingDataError(UserError):
    """A configured data file that does not exist."""


@dataclass(frozen=True)
class Plan:
    """The parse-time facts of a classification run."""

    block: ClassificationConfig
    experiments: dict[str, Section]
    splits: list[str]
    scored_splits: list[str]
    runs: list[str]
    """The runs the default target scores: those requested, each ensemble after its
    members."""

    @property
    def dataset(self) -> str:
        """The data set's name: configured, or the folder of the train file."""
        return self.block.dataset or Path(self.block.data.train).resolve().parent.name

    def files(self) -> dict[str, str]:
        return {split: getattr(self.block.data, split) for split in self.splits}

    def experiment_config(self, name: str) -> dict[str, Any]:
        """An experiment's settings with every default, and its ``kind``."""
        settings = self.experiments[name]
        return {"kind": kind_of(settings), **settings.to_dict()}

    def kind(self, name: str) -> str:
        return "ensemble" if name in self.block.ensembles else kind_of(self.experiments[name])

    def members(self, name: str) -> list[str]:
        """The experiments behind a run: an ensemble's members, or the run itself."""
        if name in self.block.ensembles:
            return list(self.block.ensembles[name]["members"])
        return [name]


def first_line_labelled(path: str | Path, label_column: str) -> bool:
    """Whether a data file's first record holds a label (its header names the label
    column, or its first JSON line has a ``label``)."""
    import json

    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
    if first.lstrip().startswith("{"):
        try:
            return label_column in json.loads(first)
        except json.JSONDecodeError:
            return False
    return label_column in first.rstrip("\r\n").replace(",", "\t").split("\t")


def plan(config: Mapping[str, Any]) -> Plan:
    """Read and check the config: :class:`~nerflow.section.ConfigError` lists every
    problem, :class:`MissingDataError` names the data files that do not exist."""
    block, experiments = read_config(config)
    splits = [split for split in SPLITS if getattr(block.data, split)]
    files = {split: getattr(block.data, split) for split in splits}
    missing = [f"{split}: {path}" for split, path in files.items() if not Path(path).is_file()]
    if missing:
        raise MissingDataError(
            "classification.data: no such file(s): " + "; ".join(missing) + " (set the paths "
            "under classification.data in your config)"
        )
    labelled = "test" in splits and (
        block.test_labelled
        if block.test_labelled is not None
        else first_line_labelled(block.data.test, block.label_column)
    )
    scored = ["dev", "test"] if labelled else ["dev"]
    requested = list(block.run_experiments) or [*experiments, *block.ensembles]
    runs = list(
        dict.fromkeys(
            member
            for name in requested
            for member in [*block.ensembles.get(name, {}).get("members", []), name]
        )
    )
    return Plan(block, experiments, splits, scored, runs)
