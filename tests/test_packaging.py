"""Packaging: every package that src/nerflow imports is declared, no declared dependency
goes unused, the licence is stated, and the conda environments pin what they install."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
NOT_IMPORTED = {"snakemake": "the workflow engine: the package runs under it"}
"""Base dependencies the package need not import, and why."""


def name_of(requirement: str) -> str:
    return re.split(r"[<>=!\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def imported_distributions() -> dict[str, set[str]]:
    """Distribution name -> the top-level modules of src/nerflow that import it."""
    distributions = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in (REPO / "src" / "nerflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "nerflow":
                    continue
                for dist in distributions.get(top, [top]):
                    found.setdefault(dist.lower().replace("_", "-"), set()).add(top)
    return found


def test_every_imported_package_is_declared_and_every_dependency_is_used() -> None:
    base = {name_of(r) for r in PYPROJECT["dependencies"]}
    extras = {name_of(r) for reqs in PYPROJECT["optional-dependencies"].values() for r in reqs}
    imported = imported_distributions()
    undeclared = sorted(set(imported) - base - extras)
    assert not undeclared, f"imported by src/nerflow but not declared: {undeclared}"
    unused = sorted(base - set(imported) - set(NOT_IMPORTED))
    assert not unused, f"declared but not imported by src/nerflow: {unused}"


def test_the_licence_is_stated() -> None:
    assert PYPROJECT["license"] == "Apache-2.0" and PYPROJECT["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.split("\n", 2)[:2] == [
        " " * 33 + "Apache License",
        " " * 27 + "Version 2.0, January 2004",
    ]


def test_conda_environments_pin_what_they_install() -> None:
    for env in sorted((REPO / "workflow" / "envs").glob("*.yaml")):
        spec = yaml.safe_load(env.read_text(encoding="utf-8"))
        pip = next(item["pip"] for item in spec["dependencies"] if isinstance(item, dict))
        loose = [line for line in pip if not line.startswith("-e ") and "==" not in line]
        assert not loose, f"{env.name}: unpinned {loose}"
        assert any(line.startswith("-e ../..") for line in pip), env.name
