"""Run the real Snakemake workflow on fixtures in a temporary directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def copy_workflow(destination: Path) -> Path:
    """Copy the Snakefile, workflow/, profiles/ and src/ so a test may edit code without
    touching the repo (profiles/default beside the Snakefile is used by itself, as in the
    repository)."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", destination / "Snakefile")
    for folder in ("workflow", "profiles", "src"):
        shutil.copytree(
            REPO / folder,
            destination / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
        )
    return destination


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def tiny_data_config(**extra: object) -> dict:
    config: dict = {
        "data": {
            split: str(FIXTURES / "tiny" / f"{split}.json") for split in ("train", "dev", "test")
        }
    }
    config.update(extra)
    return config


def snakemake_command(workdir: Path, *args: str, snakefile: Path | None = None) -> list[str]:
    """The ``snakemake`` command line (the installed one, in this interpreter)."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(snakefile or REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *args,
    ]


def start_snakemake(
    workdir: Path, *args: str, snakefile: Path | None = None, new_session: bool = False
) -> subprocess.Popen:
    """Start ``snakemake`` in ``workdir`` without waiting, its output going to
    ``workdir/snakemake.out`` (``new_session``: in a process group of its own, which
    ``os.killpg(process.pid, ...)`` reaches as a whole); see :func:`wait_snakemake`."""
    with open(workdir / "snakemake.out", "w", encoding="utf-8") as output:
        return subprocess.Popen(
            snakemake_command(workdir, *args, snakefile=snakefile),
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )


def wait_snakemake(process: subprocess.Popen, timeout: float = 900) -> str:
    """Wait for a :func:`start_snakemake` run: its output, or AssertionError if it failed."""
    process.wait(timeout=timeout)
    workdir = Path(process.args[process.args.index("--directory") + 1])
    output = (workdir / "snakemake.out").read_text("utf-8")
    if process.returncode != 0:
        raise AssertionError(
            f"snakemake in {workdir} failed ({process.returncode}):\n{output[-8000:]}"
        )
    return output


def snakemake(
    workdir: Path, *args: str, snakefile: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run ``snakemake`` (the installed one, in this interpreter) in ``workdir``."""
    command = snakemake_command(workdir, *args, snakefile=snakefile)
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def planned_rules(workdir: Path, *targets: str, snakefile: Path | None = None) -> list[str]:
    """Rules a dry run would execute for ``targets`` (empty: nothing to do).

    Snakemake prints its job-count table twice; each rule is listed once here."""
    result = snakemake(workdir, *targets, "-n", "--quiet", "rules", snakefile=snakefile)
    rules = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            rules.add(parts[0])
    return sorted(rules)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def shared_inputs(workdir: Path, run: str) -> dict[str, Path]:
    """The shared inputs that experiment ``run``'s training read, from its provenance:
    ``{"tokenizer": results/inputs/<key>/tokenizer, "train.pt": results/inputs/<key>/train.pt}``
    (paths under ``workdir``)."""
    inputs = load_json(workdir / f"results/{run}/trained/model.meta.json")["inputs"]
    return {
        Path(path).name: workdir / path for path in inputs if path.startswith("results/inputs/")
    }
