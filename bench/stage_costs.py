"""Stage costs of a completed run: every rule's wall time, CPU time and peak memory, and
the share of it that went to job start-up rather than to work.

Issue 10, item 3. The jobs and their ``benchmark:`` and ``log:`` files come from a
``snakemake -n --forceall`` of the work dir (same config arguments as the run). Each
benchmark file gives the job's seconds, CPU seconds and max RSS; each job's log gives
its start-up, the seconds from its process start to its first line of work (interpreter,
Snakemake's script preamble, imports: ``nerflow.stage.STARTUP_MESSAGE``). The run's wall
time is the span from the first job's start (a benchmark file's time less its seconds)
to the last one's end.

    python bench/stage_costs.py WORKDIR --configfile config/offline.yaml

Writes ``results/bench/stage_costs.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchutil import RESULTS, ROOT, table, write_result
from dryrun import job_name, parse_dry_run

from nerflow.stage import STARTUP_MESSAGE

STARTUP = re.compile(re.escape(STARTUP_MESSAGE).replace(re.escape("%.3f"), r"([0-9.]+)"))
OVERHEAD_TARGET = 0.10  # the threshold: start-up over 10% of a run calls for work


def planned_jobs(work: Path, config_args: list[str]) -> list[dict]:
    """Every job of the work dir's DAG (``rule all`` left out), with its benchmark and log."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(work / "Snakefile")]
    command += ["--directory", str(work), "-n", "--forceall", "--cores", "1", *config_args]
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"snakemake -n failed in {work}:\n{(done.stdout + done.stderr)[-4000:]}")
    return [job for job in parse_dry_run(done.stdout) if job["rule"] != "all"]


def read_benchmark(path: Path) -> dict[str, float] | None:
    """A Snakemake benchmark file's first row: ``seconds``, ``cpu_s``, ``max_rss_mib`` and
    ``end`` (the file's time); None when the job left none."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as handle:
        row = next(csv.DictReader(handle, delimiter="\t"))

    def number(key: str) -> float:
        value = row.get(key, "-")
        return float(value) if value not in ("-", "", "NA") else 0.0

    return {
        "seconds": number("s"),
        "cpu_s": number("cpu_time"),
        "max_rss_mib": number("max_rss"),
        "end": path.stat().st_mtime,
    }


def read_startup(path: Path, offset: float = 0.0) -> float | None:
    """The start-up seconds a job's log records less ``offset`` (at least 0), or None."""
    if not path.is_file():
        return None
    found = STARTUP.search(path.read_text(encoding="utf-8", errors="replace"))
    return max(0.0, float(found.group(1)) - offset) if found else None


def job_costs(work: Path, jobs: list[dict], startup_offset: float = 0.0) -> list[dict[str, Any]]:
    """One row per job that has a benchmark file."""
    rows = []
    for job in jobs:
        bench = read_benchmark(work / job["benchmark"]) if job["benchmark"] else None
        if bench is None:
            continue
        log = job["log"].split(", ")[0]
        startup = read_startup(work / log, startup_offset) if log else None
        rows.append({"job": job_name(job), "rule": job["rule"], "startup_s": startup, **bench})
    return rows


def by_rule(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per rule: jobs, seconds, CPU seconds, the largest peak RSS and the start-up."""
    rules: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"jobs": 0, "seconds": 0.0, "cpu_s": 0.0, "max_rss_mib": 0.0, "startup_s": 0.0}
    )
    for row in rows:
        rule = rules[row["rule"]]
        rule["jobs"] += 1
        rule["seconds"] += row["seconds"]
        rule["cpu_s"] += row["cpu_s"]
        rule["max_rss_mib"] = max(rule["max_rss_mib"], row["max_rss_mib"])
        rule["startup_s"] += row["startup_s"] or 0.0
    for rule in rules.values():
        rule["startup_share"] = rule["startup_s"] / rule["seconds"] if rule["seconds"] else 0.0
    return dict(sorted(rules.items(), key=lambda item: -item[1]["seconds"]))


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals: job seconds, start-up and its share, and the run's wall time."""
    seconds = sum(row["seconds"] for row in rows)
    startup = sum(row["startup_s"] or 0.0 for row in rows)
    wall = max(row["end"] for row in rows) - min(row["end"] - row["seconds"] for row in rows)
    return {
        "jobs": len(rows),
        "jobs_without_startup": sum(row["startup_s"] is None for row in rows),
        "job_seconds": seconds,
        "startup_s": startup,
        "startup_share_of_job_time": startup / seconds if seconds else 0.0,
        "run_wall_s": wall,
        "startup_share_of_wall": startup / wall if wall else 0.0,
        "over_target": startup / seconds > OVERHEAD_TARGET if seconds else False,
    }


def report(rules: dict[str, dict[str, Any]], total: dict[str, Any]) -> str:
    header = ["rule", "jobs", "wall s", "CPU s", "max RSS MiB", "start-up s", "start-up share"]
    rows = [
        [name, r["jobs"], r["seconds"], r["cpu_s"], r["max_rss_mib"], r["startup_s"]]
        + [f"{r['startup_share']:.1%}"]
        for name, r in rules.items()
    ]
    rows.append(
        ["all", total["jobs"], total["job_seconds"], sum(r["cpu_s"] for r in rules.values())]
        + [max(r["max_rss_mib"] for r in rules.values()), total["startup_s"]]
        + [f"{total['startup_share_of_job_time']:.1%}"]
    )
    lines = [table(header, rows)]
    lines.append(
        f"run wall {total['run_wall_s']:.0f} s; start-up {total['startup_s']:.0f} s = "
        f"{total['startup_share_of_wall']:.1%} of the wall time, "
        f"{total['startup_share_of_job_time']:.1%} of the job time "
        f"(target <= {OVERHEAD_TARGET:.0%})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, nargs="?", default=ROOT, help="a completed run's dir")
    parser.add_argument("--configfile", nargs="*", default=[], help="as given to the run")
    parser.add_argument("--json-out", type=Path, default=RESULTS / "stage_costs.json")
    parser.add_argument(
        "--startup-offset",
        type=float,
        default=0.0,
        help="seconds to take off each logged start-up: logs written before nerflow read"
        " /proc/self/stat measured from psutil's boot time, rounded down to the second"
        " (the offset is (time.time() - CLOCK_BOOTTIME) - psutil.boot_time())",
    )
    args = parser.parse_args(argv)
    work = args.work.resolve()
    config_args = ["--configfile", *args.configfile] if args.configfile else []
    rows = job_costs(work, planned_jobs(work, config_args), args.startup_offset)
    if not rows:
        raise SystemExit(f"no benchmark files of a completed run in {work}")
    rules, total = by_rule(rows), summary(rows)
    text = report(rules, total)
    print(text)
    out = write_result(
        args.json_out,
        {"work": str(work), "config": args.configfile, "startup_offset": args.startup_offset}
        | {"summary": total, "rules": rules}
        | {"jobs": rows, "table": text},
    )
    print(f"[bench] wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
