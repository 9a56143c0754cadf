"""The workflow on a running SLURM cluster (issue 22), with ``profiles/slurm`` fitted to
the one-node cluster of ``tools/slurm_cluster.sh`` (``slurm_helpers.cluster_profile``).

* The tiny DAG up to the dev scores and the test predictions: every rule job is a SLURM
  job (an ``sbatch`` call on screen, a row in ``sacct``) in the partition, with the CPUs,
  memory, time limit and GPU the profile sets, and its results equal those of a local run
  of the same DAG byte for byte (predictions and scores are byte-exact on CPU with a fixed
  seed, as ``tests/golden.py`` records).
* A broken dev line fails the validation job; its ``file:line: reason`` is on the screen
  of the Snakemake process.
* Training whose process is killed on the node (not through the scheduler) is noticed and
  retried once (``retries: 1``); the retry resumes from the checkpoint and, over its
  ``runtime`` of 1 minute, is timed out by SLURM; the same command again resumes once
  more, and two ``scancel``s end it. Each end is reported with its SLURM state.

Skipped where no cluster answers (``tools/slurm_cluster.sh start``; ``.ci/run`` starts it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from slurm_helpers import cluster_answers, cluster_profile, run_jobs, submitted
from test_profiles import EXPERIMENT, GPU_RULES
from test_recovery import edited_dev, first_mention
from workflow_helpers import (
    FIXTURES,
    snakemake,
    start_snakemake,
    tiny_data_config,
    wait_snakemake,
    write_config,
)

REASON = cluster_answers()
pytestmark = [
    pytest.mark.slurm_cluster,
    pytest.mark.skipif(
        REASON is not None,
        reason=f"no SLURM cluster answers ({REASON}); start one: tools/slurm_cluster.sh start",
    ),
]

TARGETS = ("results/tiny/dev_scores.json", "results/tiny/predictions/test.json")
BYTE_EXACT = (
    "results/tiny/dev_scores.json",
    "results/tiny/predictions/dev.json",
    "results/tiny/predictions/test.json",
    "results/data/train.jsonl",
    "results/data/dev.jsonl",
    "results/data/test.jsonl",
)
SBATCH = re.compile(r"sbatch call: (sbatch .*)")
TRAINING = {**EXPERIMENT, "train": {**EXPERIMENT["train"], "seed": 7, "device": "cpu"}}
# Training that outlasts a 1-minute time limit: a checkpoint after every second step.
ENDLESS = {
    **TRAINING,
    "train": {**TRAINING["train"], "epochs": 5000, "eval_every_steps": 2, "patience": 10**6},
}
CHECKPOINT = "results/tiny/checkpoints/state.pt"
RESUMED = re.compile(r"resuming from .*: \d+ epoch\(s\) done, step (\d+)")


def slurm_run(workdir: Path, profile: Path, *args: str, snakefile: Path | None = None):
    """Start Snakemake with the SLURM profile (``--verbose`` shows the sbatch calls; it
    also puts each job's environment into its SLURM log)."""
    return start_snakemake(workdir, "--workflow-profile", str(profile), *args, snakefile=snakefile)


def screen(workdir: Path) -> str:
    return (workdir / "snakemake.out").read_text("utf-8")


def wait_until(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.5)


def expected_resources(profile: Path, rule: str) -> dict:
    """cpus, mem_mb, runtime and partition that the profile gives ``rule``'s jobs."""
    settings = yaml.safe_load((profile / "config.yaml").read_text("utf-8"))
    resources = {**settings["default-resources"], **settings["set-resources"].get(rule, {})}
    return {
        "cpus": resources["cpus_per_task"],
        "mem_mb": resources["mem_mb"],
        "runtime": resources["runtime"],
        "partition": resources.get("slurm_partition", "cpu"),  # the cluster's default
        "gpu": resources.get("gpu", 0),
    }


def minutes(limit: str) -> int:
    """SLURM's ``[D-]HH:MM:SS`` time limit in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, _secs = map(int, clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + mins


def rule_of(row: dict) -> str:
    """The rule of a job from its SLURM comment (``rule_<name>_wildcards_...``)."""
    return re.sub(r"^rule_(\w+?)(_wildcards_.*)?$", r"\1", row["Comment"])


# --------------------------------------------------------------------------- one DAG run


@pytest.fixture(scope="module")
def dag_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The tiny DAG through SLURM and, meanwhile, locally: (SLURM run, local run, profile)."""
    on_slurm = tmp_path_factory.mktemp("on_slurm")
    local = tmp_path_factory.mktemp("local")
    profile = cluster_profile(tmp_path_factory.mktemp("profile"))
    for workdir in (on_slurm, local):
        write_config(workdir, tiny_data_config(experiments={"tiny": TRAINING}))
    slurm = slurm_run(on_slurm, profile, "--verbose", *TARGETS)
    # profiles/default, 2 cores: train gets 2 threads, as on the cluster (cpus_per_task 2)
    wait_snakemake(start_snakemake(local, "--cores", "2", *TARGETS))
    wait_snakemake(slurm)
    return on_slurm, local, profile


def test_every_job_is_a_slurm_job_with_the_profiles_resources(
    dag_runs: tuple[Path, Path, Path],
) -> None:
    on_slurm, _local, profile = dag_runs
    text = screen(on_slurm)
    jobs = submitted(text)
    rows = {row["JobIDRaw"]: row for row in run_jobs(text)}
    assert sorted(rows) == sorted(job for job, _log in jobs), (jobs, rows)
    rules = {rule_of(row) for row in rows.values()}
    assert {"validate_split", "tokenizer", "tensor_cache", "score"} | GPU_RULES <= rules
    jobs_on_screen = len(re.findall(r"^rule \w+:$", text, re.MULTILINE))  # not localrules
    assert len(rows) == jobs_on_screen
    for row in rows.values():
        want = expected_resources(profile, rule_of(row))
        assert row["State"] == "COMPLETED", row
        assert row["Partition"] == want["partition"], row
        assert int(row["AllocCPUS"]) == want["cpus"], row
        assert row["ReqMem"] == f"{want['mem_mb']}M", row
        assert minutes(row["Timelimit"]) == want["runtime"], row
        assert ("gres/gpu=1" in row["AllocTRES"]) == (want["gpu"] == 1), row
    for _job, log in jobs:  # the plugin's log of each job, under .snakemake/slurm_logs
        assert Path(log).is_file() and ".snakemake/slurm_logs/rule_" in log, log


def test_training_is_submitted_to_the_gpu_partition(dag_runs: tuple[Path, Path, Path]) -> None:
    on_slurm, _local, profile = dag_runs
    calls = [call for call in SBATCH.findall(screen(on_slurm)) if "--comment rule_train_" in call]
    assert len(calls) == 1, calls
    want = expected_resources(profile, "train")
    for flag in (
        f"-p {want['partition']}",
        f"-t {want['runtime']}",
        f"--mem {want['mem_mb']}",
        f"--cpus-per-task={want['cpus']}",
        "--gpus=fake:1",
    ):
        assert flag in calls[0], (flag, calls[0])


def test_results_equal_those_of_a_local_run(dag_runs: tuple[Path, Path, Path]) -> None:
    on_slurm, local, _profile = dag_runs
    for path in BYTE_EXACT:
        assert (on_slurm / path).read_bytes() == (local / path).read_bytes(), path
    summary = json.loads((on_slurm / "results/tiny/train_summary.json").read_text("utf-8"))
    assert summary["stop_reason"] == "completed" and summary["resumed_from"] is None


# --------------------------------------------------------------------------- a bad input


def test_a_bad_input_fails_its_job_with_the_reason_on_screen(tmp_path: Path) -> None:
    def break_key(record: dict) -> None:
        entity_type, surface, positions = first_mention(record)
        record["label"][entity_type] = {surface + "X": positions}

    workdir, bad = edited_dev(tmp_path, break_key)
    profile = cluster_profile(tmp_path / "profile")
    entity_type, surface, positions = first_mention(
        json.loads((FIXTURES / "tiny/dev.json").read_text("utf-8").splitlines()[2])
    )
    # the label set (from the train split) locally: the cluster gets only the failing job
    snakemake(workdir, "--cores", "2", "results/data/labels.json", snakefile=workdir / "Snakefile")
    process = slurm_run(workdir, profile, "results/data/dev.jsonl", snakefile=workdir / "Snakefile")
    with pytest.raises(AssertionError):
        wait_snakemake(process, timeout=300)
    text = screen(workdir)
    assert f"{bad}:3: span {entity_type}[{positions[0][0]}, {positions[0][1]}] covers" in text
    assert f"but its key is {surface + 'X'!r}" in text
    states = [row["State"] for row in run_jobs(text)]
    assert states == ["FAILED", "FAILED"], states  # the job and its one retry


# --------------------------------------------------------------------------- interruptions


def job_of(workdir: Path, rule: str, attempt: int) -> str:
    """SLURM job id of ``rule``'s ``attempt``-th submission in this run ("" if none yet)."""
    text = screen(workdir)
    jobs = [job for job, log in submitted(text) if f"/rule_{rule}/" in log]
    return jobs[attempt - 1] if len(jobs) >= attempt else ""


def job_state(job: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True
    ).stdout.strip()


def kill_on_node(job: str) -> list[int]:
    """SIGKILL the training script's processes of ``job`` (pids from ``scontrol``)."""
    listed = subprocess.run(
        ["scontrol", "listpids", job], capture_output=True, text=True, check=True
    ).stdout.split()
    killed = []
    for pid in filter(str.isdigit, listed):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"train.py" in command:
            os.kill(int(pid), signal.SIGKILL)
            killed.append(int(pid))
    return killed


def resumed_at(workdir: Path, since: float) -> int | None:
    """The step a training started after ``since`` resumed from (each try rewrites
    ``logs/tiny/train.log``), or None."""
    log = workdir / "logs/tiny/train.log"
    try:
        if log.stat().st_mtime <= since:
            return None
        found = RESUMED.search(log.read_text("utf-8"))
    except OSError:
        return None
    return int(found.group(1)) if found else None


def wait_for_resume(workdir: Path, since: float) -> int:
    wait_until(lambda: resumed_at(workdir, since) is not None, "training to resume")
    return resumed_at(workdir, since)


def wait_for_end(job: str) -> float:
    """Wait until ``job`` neither runs nor completes; the time then."""
    wait_until(lambda: job_state(job) not in ("RUNNING", "COMPLETING"), f"job {job} to end")
    return time.time()


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, list[int]]:
    """Endless training with a 1-minute runtime: the first command's training is killed on
    the node, retried, resumed and timed out; the same command again resumes and is
    cancelled twice (its try and its retry).
    (first screen, second screen, the steps that the three resumed tries started from)."""
    workdir = tmp_path_factory.mktemp("interrupted")
    write_config(workdir, tiny_data_config(experiments={"tiny": ENDLESS}))
    profile = cluster_profile(tmp_path_factory.mktemp("profile"), train={"runtime": 1})
    target = "results/tiny/dev_scores.json"
    steps = []
    # training's inputs locally (the DAG test runs them on the cluster): only train is sent
    snakemake(workdir, "--cores", "2", "--omit-from", "train", target)
    processes = [slurm_run(workdir, profile, target)]
    try:
        wait_until(lambda: (workdir / CHECKPOINT).exists(), "the first checkpoint")
        job = job_of(workdir, "train", 1)
        assert kill_on_node(job), f"no training process in job {job}"
        steps.append(wait_for_resume(workdir, wait_for_end(job)))
        with pytest.raises(AssertionError):
            wait_snakemake(processes[0], timeout=300)  # the retry runs out of time
        first_screen = screen(workdir)

        since = time.time()
        processes.append(slurm_run(workdir, profile, target))  # the same command again
        for attempt in (1, 2):
            steps.append(wait_for_resume(workdir, since))
            job = job_of(workdir, "train", attempt)
            subprocess.run(["scancel", job], check=True)
            since = wait_for_end(job)
        with pytest.raises(AssertionError):
            wait_snakemake(processes[1], timeout=300)
        return first_screen, screen(workdir), steps
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(60)


def test_a_job_killed_on_the_node_is_retried_and_resumes(
    interrupted: tuple[str, str, list[int]],
) -> None:
    first, _second, _steps = interrupted
    jobs = [job for job, log in submitted(first) if "/rule_train/" in log]
    assert len(jobs) == 2, jobs  # the killed try and one retry
    assert f"SLURM-job '{jobs[0]}' failed, SLURM status is: 'FAILED'" in first
    rows = {row["JobIDRaw"]: row["State"] for row in run_jobs(first)}
    assert rows[jobs[0]] == "FAILED", rows


def test_a_timeout_and_a_cancel_are_reported_and_the_rerun_resumes(
    interrupted: tuple[str, str, list[int]],
) -> None:
    first, second, steps = interrupted
    first_jobs = [job for job, log in submitted(first) if "/rule_train/" in log]
    assert f"SLURM-job '{first_jobs[1]}' failed, SLURM status is: 'TIMEOUT'" in first
    second_jobs = [job for job, log in submitted(second) if "/rule_train/" in log]
    assert len(second_jobs) == 2, second_jobs
    for job in second_jobs:
        assert f"SLURM-job '{job}' failed, SLURM status is: 'CANCELLED'" in second
    states = {row["JobIDRaw"]: row["State"] for row in run_jobs(first)}
    assert states[first_jobs[1]] == "TIMEOUT", states
    states = {row["JobIDRaw"]: row["State"] for row in run_jobs(second)}
    assert [states[job].split()[0] for job in second_jobs] == ["CANCELLED", "CANCELLED"]
    # the retry, the same command again and its retry each resume, never from the start
    assert 0 < steps[0] < steps[1] <= steps[2], steps
