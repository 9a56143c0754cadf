"""Submission overhead: the same DAG locally and through SLURM, with and without groups.

Issue 22, item 3. Runs a DAG three ways in scratch work dirs: locally (``profiles/default``,
``--cores`` all), through the one-node cluster of ``tools/slurm_cluster.sh`` with
``profiles/slurm`` fitted to it (``tests/slurm_helpers.cluster_profile``: one SLURM job
per rule job), and the same with the small CPU rules grouped (``groups`` and
``group-components`` in the profile: one SLURM job per group). Per run: wall seconds, the
SLURM jobs submitted, and from ``sacct`` each job's wait in the queue (Start - Submit)
and its elapsed time; the overhead per job is (SLURM wall - local wall) / jobs.

DAGs: ``tiny`` (the test fixtures, the whole default target, 1 tiny experiment of 2
epochs) and ``sample`` (the first ``--sample`` lines of each CLUENER split from
``../shared/data/cluener``, the same experiment).

    tools/slurm_cluster.sh start
    python bench/slurm_overhead.py --dag tiny

Writes ``results/bench/slurm_overhead.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchutil import RESULTS, ROOT, SHARED, table, write_result

sys.path.insert(0, str(ROOT / "tests"))
from slurm_helpers import (  # noqa: E402
    MEM_MB_CAP,
    cluster_answers,
    cluster_profile,
    run_jobs,
    submitted,
)
from test_profiles import EXPERIMENT  # noqa: E402
from workflow_helpers import snakemake, tiny_data_config, write_config  # noqa: E402

TRAINING = {**EXPERIMENT, "train": {**EXPERIMENT["train"], "seed": 7, "device": "cpu"}}
# The short CPU rules, in two groups: data preparation before training, reports after.
GROUPS = {
    "prepare": [
        "validate_split",
        "label_set",
        "char_tags",
        "tokenizer",
        "tensor_cache",
        "roundtrip",
        "oracle_predictions",
        "report_labels",
        "report_lengths",
    ],
    "report": [
        "text_check",
        "score",
        "dev_scores_table",
        "report_scores",
        "report_training",
        "report_confusion",
        "leaderboard",
        "submission",
        "model_card",
    ],
}


def dag_config(dag: str, sample: int, folder: Path) -> dict:
    if dag == "tiny":
        return tiny_data_config(experiments={"tiny": TRAINING})
    data = {}
    for split in ("train", "dev", "test"):
        lines = (SHARED / "data" / "cluener" / f"{split}.json").read_text("utf-8").splitlines()
        path = folder / f"{split}.json"
        path.write_text("\n".join(lines[:sample]) + "\n", encoding="utf-8")
        data[split] = str(path)
    return {"data": data, "experiments": {"tiny": TRAINING}}


def grouped_profile(folder: Path) -> Path:
    """The cluster profile with the ``GROUPS`` (each group's connected jobs in one SLURM
    job, and up to 50 unconnected pieces of a group merged: ``group-components``)."""
    import yaml

    profile = cluster_profile(folder)
    settings = yaml.safe_load((profile / "config.yaml").read_text("utf-8"))
    settings["groups"] = {rule: group for group, rules in GROUPS.items() for rule in rules}
    settings["group-components"] = {group: 50 for group in GROUPS}
    # A group job asks the sum of its parallel jobs' CPUs and memory unless these limits
    # make Snakemake run them in layers; the node has os.cpu_count() CPUs.
    cpus = os.cpu_count() or 1
    settings["cores"] = cpus
    settings["resources"] = [f"cpus_per_task={cpus}", f"mem_mb={cpus * MEM_MB_CAP}"]
    (profile / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), "utf-8")
    return profile


def seconds(row: dict[str, str], field: str) -> float:
    return datetime.fromisoformat(row[field]).timestamp()


def run(dag: str, mode: str, config: dict, scratch: Path) -> dict[str, Any]:
    """One run of the default target in a fresh work dir: its figures."""
    workdir = scratch / f"{dag}_{mode}"
    workdir.mkdir()
    write_config(workdir, config)
    if mode == "local":
        args = ["--cores", str(os.cpu_count())]
    else:
        profile_dir = scratch / f"profile_{dag}_{mode}"
        profile = (
            grouped_profile(profile_dir) if mode == "grouped" else cluster_profile(profile_dir)
        )
        args = ["--workflow-profile", str(profile)]
    start = time.perf_counter()
    result = snakemake(workdir, *args)
    wall = time.perf_counter() - start
    figures: dict[str, Any] = {"dag": dag, "mode": mode, "wall_s": round(wall, 1)}
    if mode == "local":
        return figures
    screen = result.stdout + result.stderr
    jobs = run_jobs(screen)
    figures["submitted_on_screen"] = len(submitted(screen))
    waits = [seconds(job, "Start") - seconds(job, "Submit") for job in jobs]
    elapsed = [seconds(job, "End") - seconds(job, "Start") for job in jobs]
    figures["jobs"] = len(jobs)
    figures["queue_wait_s"] = round(sum(waits) / len(jobs), 2)
    figures["job_elapsed_s"] = round(sum(elapsed) / len(jobs), 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dag", choices=["tiny", "sample", "both"], default="tiny")
    parser.add_argument("--sample", type=int, default=300, help="lines per CLUENER split")
    parser.add_argument("--json-out", default=str(RESULTS / "slurm_overhead.json"))
    args = parser.parse_args()
    reason = cluster_answers()
    if reason:
        raise SystemExit(f"no SLURM cluster answers ({reason}): tools/slurm_cluster.sh start")
    dags = ["tiny", "sample"] if args.dag == "both" else [args.dag]
    results = []
    with tempfile.TemporaryDirectory(prefix="slurm_overhead_") as tmp:
        scratch = Path(tmp)
        for dag in dags:
            config = dag_config(dag, args.sample, scratch)
            local = run(dag, "local", config, scratch)
            results.append(local)
            for mode in ("slurm", "grouped"):
                figures = run(dag, mode, config, scratch)
                figures["overhead_per_job_s"] = round(
                    (figures["wall_s"] - local["wall_s"]) / figures["jobs"], 2
                )
                results.append(figures)
    header = [
        "DAG",
        "run",
        "wall s",
        "SLURM jobs",
        "queue wait s/job",
        "job elapsed s",
        "overhead s/job",
    ]
    rows = [
        [
            r["dag"],
            r["mode"],
            r["wall_s"],
            r.get("jobs"),
            r.get("queue_wait_s"),
            r.get("job_elapsed_s"),
            r.get("overhead_per_job_s"),
        ]
        for r in results
    ]
    print(table(header, rows))
    out = write_result(args.json_out, {"cpus": os.cpu_count(), "runs": results})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
