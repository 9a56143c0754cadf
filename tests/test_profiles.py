"""Execution profiles and software environments.

* ``profiles/slurm``: a dry run with the SLURM executor on the fixture config
  (no cluster: failing fake ``sbatch``/``squeue``/``scontrol``/... on the PATH prove that
  a dry run submits nothing and survives the plugin's configuration queries), then per
  job the resources Snakemake would submit with: GPU rules (``train``, ``predict``) ask a
  GPU, its model and the GPU partition; every other rule runs on CPUs in the default
  partition; every job has runtime, memory and CPUs. The plugin's own sbatch-line
  builders turn these into the expected flags.
* ``profiles/default``: valid options (a dry run accepts them), the GPU pool, and found by
  Snakemake itself beside the Snakefile: a run that names no profile uses it.
* ``workflow/envs``: every ``conda:`` directive names an existing env file, and the
  relative ``pip -e`` path of each env file reaches this checkout both from the env file
  itself and from the copy Snakemake hands to ``conda env create``.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from workflow_helpers import REPO, snakemake, tiny_data_config, write_config

PROFILES = REPO / "profiles"
GPU_RULES = {"train", "predict"}
OPTIONAL_GPU_RULES = {"pretrain_mlm", "annotate"}  # not in the fixture DAG unless configured
SLURM_COMMANDS = ("sbatch", "squeue", "sacct", "sinfo", "scontrol", "srun", "scancel")
SUBMITTING = {"sbatch", "srun", "scancel"}
EXPERIMENT = {
    "encoder": "scratch",
    "scratch": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    "head": "crf",
    "max_len": 64,
    "train": {"epochs": 2, "batch_size": 8, "lr": 5.0e-3, "head_lr": 5.0e-2},
}
JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$")


def parse_value(text: str) -> int | str:
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def dry_run_jobs(output: str) -> list[dict]:
    """Jobs of a verbose dry run: ``{"rule", "threads", "resources"}`` each."""
    jobs: list[dict] = []
    current: dict | None = None
    for line in output.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            current = {"rule": header.group(1), "threads": 1, "resources": {}}
            jobs.append(current)
        elif current is not None and line.startswith("    "):
            key, _, value = line.strip().partition(": ")
            if key == "threads":
                current["threads"] = int(value)
            elif key == "resources":
                for item in value.split(", "):
                    name, _, setting = item.partition("=")
                    current["resources"][name] = parse_value(setting)
        else:
            current = None
    return jobs


class Resources(dict):
    """What the SLURM plugin expects of ``job.resources``: ``get`` and attribute access."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError as error:
            raise AttributeError(name) from error


def sbatch_line(job: dict) -> str:
    """The sbatch call the SLURM plugin would build for a dry-run job."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    fake = SimpleNamespace(threads=job["threads"], resources=Resources(job["resources"]))
    params = {
        "run_uuid": "test",
        "slurm_logfile": "slurm.log",
        "comment_str": job["rule"],
        "account": "",
        "partition": f"-p {job['resources']['slurm_partition']}"
        if "slurm_partition" in job["resources"]
        else "",
        "workdir": ".",
    }
    return get_submit_command(fake, params) + set_gres_string(fake)


@pytest.fixture(scope="module")
def slurm_dry_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    workdir = tmp_path_factory.mktemp("slurm")
    write_config(workdir, tiny_data_config(experiments={"tiny": EXPERIMENT}))
    fake_bin = workdir / "fake_bin"
    fake_bin.mkdir()
    marker = workdir / "slurm_called"
    for command in SLURM_COMMANDS:
        script = fake_bin / command
        script.write_text(f'#!/bin/sh\necho "$0 $*" >> "{marker}"\nexit 1\n', "utf-8")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    old_path = os.environ["PATH"]
    os.environ["PATH"] = f"{fake_bin}{os.pathsep}{old_path}"
    try:
        # --cores only lifts the dry run's default of 1 core, which would cap the threads
        # shown; a real cluster run needs no --cores. A workflow profile replaces
        # profiles/default (a --profile would be overridden by it, key by key).
        result = snakemake(
            workdir, "-n", "--workflow-profile", "slurm", "--cores", "64", "--forceall"
        )
    finally:
        os.environ["PATH"] = old_path
    assert f"workflow specific profile {PROFILES / 'slurm'} " in result.stderr
    # The plugin may query the cluster configuration (``scontrol show config``, for the
    # status-query interval) and copes with a failure; nothing may be submitted or run.
    calls = marker.read_text("utf-8").splitlines() if marker.exists() else []
    submitted = [call for call in calls if Path(call.split()[0]).name in SUBMITTING]
    assert not submitted, f"the dry run submitted to SLURM: {submitted}"
    assert "executor: slurm" in (PROFILES / "slurm" / "config.yaml").read_text("utf-8")
    jobs = dry_run_jobs(result.stdout)
    assert jobs, result.stdout[-3000:]
    return [job for job in jobs if job["rule"] != "all"]


def test_slurm_profile_sends_training_and_prediction_to_gpus(slurm_dry_run: list[dict]) -> None:
    rules = {job["rule"] for job in slurm_dry_run}
    assert GPU_RULES <= rules
    for job in slurm_dry_run:
        resources = job["resources"]
        if job["rule"] in GPU_RULES | OPTIONAL_GPU_RULES:
            assert resources["gpu"] == 1, job
            assert resources["gpu_model"] and resources["slurm_partition"], job
            assert resources["cpus_per_task"] == job["threads"] > 1, job
        else:
            assert "gpu" not in resources and "gpu_model" not in resources, job
            assert "slurm_partition" not in resources, job  # the cluster's default partition
            assert resources["cpus_per_task"] == 1, job
        assert isinstance(resources["runtime"], int) and resources["runtime"] > 0, job
        assert isinstance(resources["mem_mb"], int) and resources["mem_mb"] >= 1000, job


def test_slurm_profile_sizes_jobs_per_rule(slurm_dry_run: list[dict]) -> None:
    by_rule = {job["rule"]: job for job in slurm_dry_run}
    train, predict = by_rule["train"], by_rule["predict"]
    cpu_jobs = [job for job in slurm_dry_run if job["rule"] not in GPU_RULES]
    assert train["threads"] == 8 and predict["threads"] == 4
    assert train["resources"]["runtime"] > max(j["resources"]["runtime"] for j in cpu_jobs)
    assert train["resources"]["mem_mb"] > predict["resources"]["mem_mb"]
    assert by_rule["tensor_cache"]["resources"]["mem_mb"] > by_rule["score"]["resources"]["mem_mb"]
    assert len({job["resources"]["runtime"] for job in cpu_jobs}) > 1  # not one size for all


def test_slurm_plugin_turns_the_resources_into_sbatch_flags(slurm_dry_run: list[dict]) -> None:
    pytest.importorskip("snakemake_executor_plugin_slurm")
    for job in slurm_dry_run:
        line = sbatch_line(job)
        resources = job["resources"]
        assert f"-t {resources['runtime']}" in line and f"--mem {resources['mem_mb']}" in line
        assert f"--cpus-per-task={resources['cpus_per_task']}" in line
        if job["rule"] in GPU_RULES:
            assert f"--gpus={resources['gpu_model']}:1" in line, line
            assert f"-p {resources['slurm_partition']}" in line, line
        else:
            assert "--gpus" not in line and "--gres" not in line, line


def test_default_profile_is_valid_and_pools_one_gpu(tmp_path: Path) -> None:
    profile = yaml.safe_load((PROFILES / "default" / "config.yaml").read_text("utf-8"))
    assert profile["resources"] == ["gpu=1"]
    assert profile["show-failed-logs"] is True and profile["rerun-incomplete"] is True
    assert "executor" not in profile
    assert not (REPO / "workflow" / "profiles").exists(), "profiles live in profiles/"
    write_config(tmp_path, tiny_data_config(experiments={"tiny": EXPERIMENT}))
    # No profile named: Snakemake finds profiles/default beside the Snakefile by itself
    # (the run is in another directory, as in every workflow test).
    result = snakemake(tmp_path, "-n")
    assert f"workflow specific profile {PROFILES / 'default'} " in result.stderr
    jobs = dry_run_jobs(result.stdout)
    assert {job["rule"] for job in jobs if job["resources"].get("gpu") == 1} == GPU_RULES


# --------------------------------------------------------------------------- environments


def conda_directives() -> list[tuple[Path, str]]:
    """(rule file, env path) of every ``conda:`` directive under workflow/rules."""
    found = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        lines = smk.read_text("utf-8").splitlines()
        for index, line in enumerate(lines):
            if line.strip() == "conda:":
                found.append((smk, lines[index + 1].strip().strip("\"'")))
    return found


def test_every_conda_directive_names_an_existing_env_file() -> None:
    directives = conda_directives()
    assert directives
    for smk, env in directives:
        assert (smk.parent / env).is_file(), f"{smk.name}: {env} does not exist"


@pytest.mark.parametrize(
    "env_file", sorted((REPO / "workflow" / "envs").glob("*.yaml")), ids=lambda p: p.name
)
def test_pip_paths_of_env_files_reach_the_checkout(env_file: Path) -> None:
    spec = yaml.safe_load(env_file.read_text("utf-8"))
    pip = next(item["pip"] for item in spec["dependencies"] if isinstance(item, dict))
    editable = [entry.split(None, 1)[1] for entry in pip if entry.startswith("-e ")]
    assert editable, f"{env_file.name} does not install the nerflow package"
    for entry in editable:
        relative = entry.split("[", 1)[0]  # extras: ../..[lexicon,lac]
        # conda runs pip in the directory of the env file it is given ...
        assert (env_file.parent / relative).resolve() == REPO
        # ... and Snakemake gives it a copy in <workdir>/.snakemake/conda/<hash>.yaml:
        # run from the checkout root (and with the default --conda-prefix) it is the same.
        assert (REPO / ".snakemake" / "conda" / relative).resolve() == REPO
    pinned = [entry for entry in pip if entry.startswith("torch")]
    assert pinned == ["torch==2.13.0"], "torch must be pinned before the package pulls it in"
    assert pip.index(pinned[0]) < pip.index(f"-e {editable[0]}")
    assert any(str(dep).startswith("python=3.11") for dep in spec["dependencies"])


def test_report_env_has_matplotlib() -> None:
    spec = yaml.safe_load((REPO / "workflow/envs/report.yaml").read_text("utf-8"))
    pip = next(item["pip"] for item in spec["dependencies"] if isinstance(item, dict))
    assert any(entry.startswith("matplotlib") for entry in pip)
