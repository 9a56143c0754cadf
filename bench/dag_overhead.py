"""Workflow overhead: how long Snakemake takes to plan the offline run (``snakemake -n``).

Issue 10, item 4. Plans (dry run, nothing executed) the offline configuration as it is,
and again with ``--experiments`` experiments and ``--ensembles`` ensembles configured
(variants of the first offline experiment that differ in their seed), in a scratch copy
of the workflow whose data paths point at ``--data``. Each plan is timed ``--repeat``
times; the table gives the median wall seconds and the number of planned jobs.

Target: <= 3 s with 10 experiments and 2 ensembles.

    python bench/dag_overhead.py --repeat 3

Writes ``results/bench/dag_overhead.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from benchutil import RESULTS, ROOT, SHARED, median, write_result
from benchutil import table as markdown

JOBS = re.compile(r"^total\s+(\d+)", re.MULTILINE)


def scaled_config(offline: dict, experiments: int, ensembles: int) -> dict:
    """``offline`` with ``experiments`` seed variants of its first experiment, grouped
    into ``ensembles`` ensembles of three members, all run."""
    first_name = next(iter(offline["experiments"]))
    first = offline["experiments"][first_name]
    names = [f"variant_s{seed}" for seed in range(1, experiments + 1)]
    config = dict(offline)
    config["experiments"] = {
        name: {**first, "train": {**first["train"], "seed": seed}}
        for seed, name in enumerate(names, start=1)
    }
    config["ensembles"] = {
        f"vote{i}": {"members": names[3 * i : 3 * i + 3]} for i in range(ensembles)
    }
    config["run_experiments"] = names + list(config["ensembles"])
    return config


def plan(workdir: Path, config: Path) -> tuple[float, int]:
    """Seconds and planned jobs of ``snakemake -n`` with ``config``."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--configfile", str(config)],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"snakemake -n failed:\n{result.stderr[-2000:]}")
    match = JOBS.search(result.stdout)
    return seconds, int(match.group(1)) if match else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "cluener")
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--ensembles", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json-out", type=Path, default=RESULTS / "dag_overhead.json")
    args = parser.parse_args(argv)

    offline = yaml.safe_load((ROOT / "config" / "offline.yaml").read_text(encoding="utf-8"))
    offline["data"] = {
        split: str(args.data.resolve() / f"{split}.json") for split in ("train", "dev", "test")
    }
    cases = {
        "offline": offline,
        f"{args.experiments} experiments, {args.ensembles} ensembles": scaled_config(
            offline, args.experiments, args.ensembles
        ),
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        shutil.copy(ROOT / "Snakefile", workdir / "Snakefile")
        for folder in ("workflow", "profiles", "config"):
            shutil.copytree(ROOT / folder, workdir / folder)
        for name, config in cases.items():
            path = workdir / f"{len(rows)}.yaml"
            path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
            runs = [plan(workdir, path) for _ in range(args.repeat)]
            rows.append(
                {
                    "case": name,
                    "jobs": runs[0][1],
                    "median_s": round(median([s for s, _ in runs]), 3),
                    "runs_s": [round(s, 3) for s, _ in runs],
                }
            )
    print(
        markdown(
            ["case", "planned jobs", "snakemake -n (median s)", "runs"],
            [[r["case"], r["jobs"], r["median_s"], r["runs_s"]] for r in rows],
        )
    )
    print(f"target: <= 3 s with {args.experiments} experiments and {args.ensembles} ensembles")
    out = write_result(args.json_out, {"cases": rows, "target_s": 3.0})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
