"""The recipe of docs/architecture.md, "Add an input feature", done as a user would: a toy
feature (each character's class: digit, Latin letter, CJK, other) in ONE new file under
``nerflow/features/`` plus its line in ``nerflow/features/registry.py``, on a copy of the
workflow; the real DAG then validates its config keys, builds its tensors into the cache,
trains a tiny BiLSTM with its embedding, saves it in the model folder and predicts with it.
Nothing else in the package is edited (checked file by file)."""

from __future__ import annotations

import filecmp
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from workflow_helpers import (
    REPO,
    copy_workflow,
    load_json,
    snakemake_command,
    tiny_data_config,
    write_config,
)

TOY_FEATURE = '''"""Each character's class (a toy feature of tests/test_feature_plugin.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from nerflow.features.feature import InputFeature
from nerflow.section import setting

CLASSES = 5  # padding, digit, Latin letter, CJK, other


def char_class(char: str) -> int:
    if char.isdigit():
        return 1
    if char.isascii() and char.isalpha():
        return 2
    return 3 if "\\u4e00" <= char <= "\\u9fff" else 4


@dataclasses.dataclass(frozen=True)
class CharClassSettings:
    char_class: bool = setting(False, description="each character's class, embedded")
    char_class_dim: int = setting(4, minimum=1)


class CharClass(InputFeature):
    name = "char_class"
    Settings = CharClassSettings
    tensors = {"char_class": "char_class_ids"}
    asset_keys = ("char_class",)
    size_keys = ("char_classes", "char_class_dim")
    inputs = {"char_class": "char_class_ids"}

    def char_features(self, text: str, context: Any = None) -> dict[str, Any]:
        import numpy as np

        return {"char_class_ids": np.array([char_class(c) for c in text], dtype=np.int64)}

    def sizes(self) -> dict[str, int]:
        return {
            "char_classes": CLASSES if self.on else 0,
            "char_class_dim": self.spec.char_class_dim if self.on else 0,
        }

    @classmethod
    def modules(cls, sizes: Any) -> list[tuple[str, Any]]:
        from torch import nn

        if not sizes["char_classes"]:
            return []
        table = nn.Embedding(sizes["char_classes"], sizes["char_class_dim"], padding_idx=0)
        return [("char_class", table)]

    @classmethod
    def output_dim(cls, sizes: Any) -> int:
        return sizes["char_class_dim"] if sizes["char_classes"] else 0

    @classmethod
    def embed(cls, modules: Any, tensors: Any, sizes: Any) -> list[Any]:
        return [modules["char_class"](tensors["char_class_ids"])]
'''
EXPERIMENT = {
    "encoder": "bilstm",
    "bilstm": {"embedding_dim": 16, "hidden": 16},
    "features": {"char_class": True, "char_class_dim": 3, "bigram": True},
    "head": "crf",
    "max_len": 24,
    "stride": 6,
    "train": {"epochs": 2, "batch_size": 8, "lr": 5.0e-3, "head_lr": 5.0e-2, "device": "cpu"},
}
TARGET = "results/toy/dev_scores.json"


def add_toy_feature(src: Path) -> None:
    """The recipe: one new file, one registry line."""
    (src / "nerflow" / "features" / "char_class.py").write_text(TOY_FEATURE, encoding="utf-8")
    registry = src / "nerflow" / "features" / "registry.py"
    text = registry.read_text(encoding="utf-8")
    text = text.replace(
        "from nerflow.features import ", "from nerflow.features import char_class, "
    )
    text = re.sub(r"(\n\)\n)$", "\n    char_class.CharClass,\\1", text)
    registry.write_text(text, encoding="utf-8")


def changed_package_files(copy: Path) -> tuple[list[str], list[str]]:
    """(new, edited) files of the copied package against the repository's."""
    ours, theirs = REPO / "src" / "nerflow", copy / "nerflow"
    new, edited = [], []
    for path in sorted(theirs.rglob("*.py")):
        relative = path.relative_to(theirs)
        original = ours / relative
        if not original.exists():
            new.append(str(relative))
        elif not filecmp.cmp(original, path, shallow=False):
            edited.append(str(relative))
    return new, edited


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("toy_feature"))
    add_toy_feature(workdir / "src")
    write_config(workdir, tiny_data_config(experiments={"toy": EXPERIMENT}))
    env = {**os.environ, "PYTHONPATH": str(workdir / "src")}
    command = snakemake_command(workdir, TARGET, "--cores", "2", snakefile=workdir / "Snakefile")
    result = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=900, env=env
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return workdir


def test_the_recipe_is_one_new_file_and_the_registry(run: Path) -> None:
    assert changed_package_files(run / "src") == (
        ["features/char_class.py"],
        ["features/registry.py"],
    )


def test_the_toy_feature_is_trained_saved_and_predicted_with(run: Path) -> None:
    from safetensors.torch import load_file

    model = run / "results/toy/trained/model"
    sizes = json.loads((model / "nerflow_bilstm.json").read_text(encoding="utf-8"))
    assert sizes["char_classes"] == 5 and sizes["char_class_dim"] == 3
    weights = load_file(str(model / "bilstm.safetensors"))
    assert weights["feature_inputs.char_class.weight"].shape == (5, 3)
    assert "feature_inputs.bigram.weight" in weights  # beside a registered feature
    spec = json.loads((model / "nerflow_features.json").read_text(encoding="utf-8"))
    assert spec["char_class"] is True and spec["char_class_dim"] == 3
    scores = load_json(run / TARGET)
    assert scores["text_mismatch_lines"] == 0 and scores["n_records"] > 0
    log = (run / "results/toy/train_log.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(log) == 2 and all(json.loads(line)["loss"] > 0 for line in log)


def test_its_settings_are_checked_like_any_other(run: Path) -> None:
    """The workflow refuses a bad value of the new setting with its path and bound."""
    config = tiny_data_config(
        experiments={"toy": {**EXPERIMENT, "features": {"char_class": True, "char_class_dim": 0}}}
    )
    write_config(run, config)
    env = {**os.environ, "PYTHONPATH": str(run / "src")}
    command = snakemake_command(run, TARGET, "-n", snakefile=run / "Snakefile")
    result = subprocess.run(command, cwd=run, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode != 0
    assert "experiments.toy.features.char_class_dim: 0 is less than the minimum of 1" in (
        result.stdout + result.stderr
    )
