"""Runs of the workflow on the SLURM cluster of ``tools/slurm_cluster.sh``.

Used by ``tests/test_slurm_cluster.py`` and ``bench/slurm_overhead.py``: the test profile
(``profiles/slurm`` fitted to the one-node cluster), whether a cluster answers, and what
SLURM's accounting says about the jobs of one Snakemake run.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml
from workflow_helpers import REPO

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
GPU_TYPE = "fake"  # the GRES type tools/slurm_cluster.sh declares
MEM_MB_CAP = 3000  # each job's memory, at most: several jobs fit on a small machine
SUBMITTED = re.compile(r"Job \S+ has been submitted with SLURM jobid (\d+) \(log: (.+?)\)")
SACCT_FIELDS = (
    "JobIDRaw,JobName,Comment,Partition,AllocCPUS,ReqMem,Timelimit,AllocTRES,State,Submit,Start,End"
)


def cluster_answers() -> str | None:
    """None when the cluster takes jobs and keeps accounts, else why not."""
    checks = (["sinfo", "-h", "-p", "gpu", "-o", "%t"], ["sacct", "-n", "-X", "-j", "1"])
    for command in checks:
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"{command[0]}: {error}"
        if result.returncode != 0:
            return f"{' '.join(command)}: {result.stderr.strip()}"
    state = subprocess.run(checks[0], capture_output=True, text=True).stdout.strip()
    if state not in ("idle", "mix", "alloc"):
        return f"the node of partition gpu is {state or 'missing'}"
    return None


def cluster_profile(folder: Path, **resources: dict) -> Path:
    """``profiles/slurm`` fitted to this machine's one-node cluster, in ``folder``:
    the GPU model is the cluster's fake GRES type, CPUs at most this machine's, memory at
    most ``MEM_MB_CAP``, status checks from 2 s on and every job's SLURM log kept.
    ``resources``: per rule, settings that replace the profile's (``train={"runtime": 1}``).
    Partition names stay: the cluster's are the profile's (``gpu``; CPU rules go to the
    default partition). Returns the profile folder (for ``--workflow-profile``)."""
    profile = yaml.safe_load(PROFILE.read_text("utf-8"))
    cpus = os.cpu_count() or 1
    profile["set-threads"] = {rule: min(n, cpus) for rule, n in profile["set-threads"].items()}
    profile["default-resources"]["mem_mb"] = min(profile["default-resources"]["mem_mb"], MEM_MB_CAP)
    for rule, settings in profile["set-resources"].items():
        if "gpu_model" in settings:
            settings["gpu_model"] = GPU_TYPE
        if "cpus_per_task" in settings:
            settings["cpus_per_task"] = min(settings["cpus_per_task"], cpus)
        settings["mem_mb"] = min(settings["mem_mb"], MEM_MB_CAP)
        settings.update(resources.get(rule, {}))
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["slurm-keep-successful-logs"] = True
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False), "utf-8")
    return folder


def submitted(screen: str) -> list[tuple[str, str]]:
    """(SLURM job id, the plugin's log of the job) of each submission on a screen (a rule
    job or a group job)."""
    return SUBMITTED.findall(screen)


def run_jobs(screen: str) -> list[dict[str, str]]:
    """SLURM's accounting rows of the jobs of the Snakemake run on ``screen``: all jobs of
    one run share their SLURM job name (the run's uuid)."""
    first = submitted(screen)[0][0]
    name = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-j", first, "-o", "JobName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return sacct_jobs(name)


def sacct_jobs(name: str) -> list[dict[str, str]]:
    """SLURM's accounting rows (allocations only) of the jobs named ``name``."""
    result = subprocess.run(
        ["sacct", "-X", "-P", "-n", "--name", name, "-S", "now-1days", "-o", SACCT_FIELDS],
        capture_output=True,
        text=True,
        check=True,
    )
    fields = SACCT_FIELDS.split(",")
    return [dict(zip(fields, line.split("|"), strict=True)) for line in result.stdout.splitlines()]
