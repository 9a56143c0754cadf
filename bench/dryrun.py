"""Reading what Snakemake plans, shared by ``bench/rerun_precision.py`` and
``tests/test_staleness.py``: the jobs of a dry run (``snakemake -n``), the rules of
``workflow/rules/*.smk`` with their scripts, and the package modules a script runs.

No torch, no Snakemake import: text in, plain data out."""

from __future__ import annotations

import re
from modulefinder import ModuleFinder
from pathlib import Path

_JOB = re.compile(r"^(?:local)?rule (\S+):$")
_FIELD = re.compile(r"^\s+(input|output|reason|wildcards|log|benchmark): (.*)$")


def parse_dry_run(text: str) -> list[dict]:
    """The jobs a dry run's output lists (``rule all`` included), each with its
    ``rule``, ``wildcards`` (a dict), ``input`` and ``output`` (lists of paths) and
    ``reason``, ``log`` and ``benchmark`` (absent fields: empty)."""
    jobs: list[dict] = []
    for line in text.splitlines():
        rule = _JOB.match(line)
        if rule:
            jobs.append({"rule": rule.group(1), "wildcards": {}, "input": [], "output": []})
            jobs[-1] |= {"reason": "", "log": "", "benchmark": ""}
            continue
        field = _FIELD.match(line)
        if field and jobs:
            key, value = field.groups()
            if key == "wildcards":
                jobs[-1][key] = dict(item.split("=", 1) for item in value.split(", "))
            elif key in ("input", "output"):
                jobs[-1][key] = value.split(", ")
            else:
                jobs[-1][key] = value
    return jobs


def job_name(job: dict) -> str:
    """``rule`` or ``rule[key=value,...]``: one name per job of a DAG."""
    wildcards = ",".join(f"{key}={value}" for key, value in sorted(job["wildcards"].items()))
    return f"{job['rule']}[{wildcards}]" if wildcards else job["rule"]


def downstream(jobs: list[dict], roots: set[str]) -> set[str]:
    """``roots`` (job names) and every job that reads, directly or not, an output of one
    of them (an input at or under an output path), in the DAG of ``jobs`` (a
    ``--forceall`` dry run lists them all)."""
    producer = {path: job_name(job) for job in jobs for path in job["output"]}

    def made_by(path: str) -> str | None:
        parts = Path(path).parts
        for end in range(len(parts), 0, -1):  # a file inside a directory() output
            name = producer.get(str(Path(*parts[:end])))
            if name:
                return name
        return None

    readers: dict[str, set[str]] = {}
    for job in jobs:
        for path in job["input"]:
            source = made_by(path)
            if source:
                readers.setdefault(source, set()).add(job_name(job))
    reached, frontier = set(roots), list(roots)
    while frontier:
        for reader in readers.get(frontier.pop(), ()):
            if reader not in reached:
                reached.add(reader)
                frontier.append(reader)
    return reached


def script_rules(rules_dir: Path) -> dict[str, dict]:
    """Every rule of ``rules_dir/*.smk``, parsed from the text: its file, its own lines
    (``body``), the script of its ``script:`` directive and the raw value of its ``code=``
    param (or None)."""
    rules: dict[str, dict] = {}
    for smk in sorted(rules_dir.glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        blocks = re.split(r"^rule (\w+):\n", text, flags=re.MULTILINE)
        for name, body in zip(blocks[1::2], blocks[2::2], strict=True):
            body = re.split(r"^\S", body, maxsplit=1, flags=re.MULTILINE)[0]  # rule's own lines
            script = re.search(r"^    script:\n\s+\"\.\./scripts/([^\"]+)\.py\"", body, re.M)
            code = re.search(r"^\s+code=(.*),$", body, re.MULTILINE)
            rules[name] = {
                "file": smk.name,
                "body": body,
                "script": script.group(1) if script else None,
                "code": code.group(1) if code else None,
            }
    return rules


def modules_run_by(script: Path, src: Path) -> set[str]:
    """The ``nerflow`` modules Python's own ``modulefinder`` sees ``script`` import, at any
    depth (independent of ``nerflow.provenance``). Only ``src`` is searched: the standard
    library and third-party imports are not followed."""
    finder = ModuleFinder(path=[str(src)])
    finder.run_script(str(script))
    return {name for name in finder.modules if name.split(".")[0] == "nerflow"}
