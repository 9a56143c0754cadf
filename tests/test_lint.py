"""Lint and format gates: ruff, snakefmt and snakemake --lint stay green."""

from __future__ import annotations

import shutil
import subprocess
import sys

from workflow_helpers import REPO, tiny_data_config, write_config


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


def test_snakemake_lint(tmp_path) -> None:
    write_config(tmp_path, tiny_data_config())
    result = run(
        sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
