"""Lint and format gates: ruff, snakefmt and snakemake --lint stay green."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from workflow_helpers import FIXTURES, REPO, tiny_data_config, write_config


def run(*command: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_ruff_check() -> None:
    result = run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakefmt() -> None:
    snakefmt = shutil.which("snakefmt")
    assert snakefmt, "snakefmt is part of the test extra: pip install -e '.[test]'"
    result = run(snakefmt, "--check", "Snakefile", "workflow/")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("task", ["ner", "classification"])
def test_snakemake_lint(tmp_path, task) -> None:
    sentiment = FIXTURES / "sentiment"
    classification = {
        "task": "classification",
        "classification": {
            "data": {split: str(sentiment / f"{split}.tsv") for split in ("train", "dev")},
            "experiments": {"lin": {"kind": "linear"}, "nn": {"max_len": 32, "stride": 8}},
        },
    }
    write_config(tmp_path, tiny_data_config() if task == "ner" else classification)
    result = run(
        sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def lint_imports(cwd=REPO, env=None) -> subprocess.CompletedProcess:
    lint = shutil.which("lint-imports")
    assert lint, "import-linter is part of the test extra: pip install -e '.[test]'"
    return subprocess.run(
        [lint, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def test_layers_hold() -> None:
    """The package's layers (pyproject.toml, docs/architecture.md): no upward import, no cycle."""
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path) -> None:
    """Not vacuous: the same contracts on a copy of the package where the data layer imports
    the command line fail, and name the import."""
    shutil.copytree(REPO / "src" / "nerflow", tmp_path / "nerflow")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    records = tmp_path / "nerflow" / "data" / "records.py"
    records.write_text(records.read_text() + "\nfrom nerflow.cli import main  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = lint_imports(cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert "nerflow.data is not allowed to import nerflow.cli" in result.stdout, result.stdout
