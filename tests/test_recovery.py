"""Errors on screen and recovery without ceremony (issue 9, point 5).

* A plain ``snakemake`` (no profile named: Snakemake finds ``profiles/default`` beside the
  Snakefile by itself, also for a copied workflow) prints a failed job's reasons: a broken
  dev line shows up on screen as ``dev.json:N: reason``.
* A run killed with SIGKILL in the middle of training is resumed by the same plain
  command: the stale lock is removed (``workflow/rules/recovery.smk``), the incomplete jobs
  are rerun (``rerun-incomplete`` in the profile), training continues from its checkpoint,
  and the scores and predictions equal those of an uninterrupted run with the same seed.
* The lock of a run that lives, of a run on another host, or a lock file that is no longer
  the dead run's own, is never removed.

* The same for MLM pretraining (``pretrain_mlm``): the rerun continues from its
  checkpoint (``results/pretrain/{name}/checkpoints``) to the weights of an uninterrupted
  run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from workflow_helpers import (
    FIXTURES,
    copy_workflow,
    load_json,
    snakemake,
    start_snakemake,
    tiny_data_config,
    wait_snakemake,
    write_config,
)

TARGET = "results/tiny/dev_scores.json"
# Small enough to be quick, long enough to be killed in the middle: a checkpoint after
# every second step (each after a dev evaluation), 36 steps in all.
EXPERIMENT = {
    "encoder": "scratch",
    "scratch": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    "head": "crf",
    "max_len": 64,
    "train": {
        "epochs": 6,
        "batch_size": 8,
        "lr": 5.0e-3,
        "head_lr": 5.0e-2,
        "eval_every_steps": 2,
        "patience": 100,
        "seed": 7,
        "device": "cpu",
    },
}
DIED = "nerflow: removed the lock of a Snakemake run that died"
PRETRAIN_TARGET = "results/pretrain/mini/model"
# 47 training texts in batches of 4: 12 steps an epoch, 120 in all, a checkpoint after
# every fourth step and at every epoch end. Dropout stays on: the resumed run needs the
# global random state as well as the masking generator's.
PRETRAINING = {
    "layers": 1,
    "hidden": 32,
    "heads": 2,
    "intermediate": 64,
    "epochs": 10,
    "batch_size": 4,
    "lr": 1.0e-3,
    "whole_word": False,
    "eval_every_steps": 4,
    "seed": 7,
    "device": "cpu",
}


def recovery_config() -> dict:
    config = tiny_data_config(experiments={"tiny": EXPERIMENT})
    del config["data"]["test"]  # not needed for the dev scores
    return config


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


# --------------------------------------------------------------------------- errors


def edited_dev(tmp_path: Path, edit: Callable[[dict], None]) -> tuple[Path, Path]:
    """A workflow copy whose dev split is the tiny one with its line 3 edited in place by
    ``edit`` (the record's JSON object): (work dir, the dev file)."""
    workdir = copy_workflow(tmp_path / "copied")
    lines = (FIXTURES / "tiny/dev.json").read_text("utf-8").splitlines()
    record = json.loads(lines[2])
    edit(record)
    lines[2] = json.dumps(record, ensure_ascii=False)
    dev = tmp_path / "dev.json"
    dev.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = recovery_config()
    config["data"]["dev"] = str(dev)
    write_config(workdir, config)
    return workdir, dev


def first_mention(record: dict) -> tuple[str, str, list[list[int]]]:
    """(type, string, positions) of a record's first labelled mention."""
    entity_type, mentions = next(iter(record["label"].items()))
    surface, positions = next(iter(mentions.items()))
    return entity_type, surface, positions


def test_a_plain_run_prints_the_reasons_of_a_broken_input_file(tmp_path: Path) -> None:
    def break_key(record: dict) -> None:
        entity_type, surface, positions = first_mention(record)
        record["label"][entity_type] = {surface + "X": positions}  # the key no longer matches

    workdir, bad = edited_dev(tmp_path, break_key)
    entity_type, surface, positions = first_mention(
        json.loads((FIXTURES / "tiny/dev.json").read_text("utf-8").splitlines()[2])
    )

    result = snakemake(
        workdir,
        "--cores",
        "1",
        "results/data/dev.jsonl",
        snakefile=workdir / "Snakefile",
        check=False,
    )
    assert result.returncode != 0
    # run in the copy: Snakemake names it relative to the working directory
    assert "Using workflow specific profile profiles/default " in result.stderr
    screen = result.stdout + result.stderr
    assert f"{bad}:3: span {entity_type}[{positions[0][0]}, {positions[0][1]}] covers" in screen
    assert f"but its key is {surface + 'X'!r}" in screen
    # an error the user can act on is shown as its message, without a traceback
    assert "ERROR: " in screen and "Traceback" not in screen


def test_a_run_that_changed_records_says_so_on_screen(tmp_path: Path) -> None:
    """The overlap policy (keep_longest by default) drops a nested span: the run succeeds
    and one line on screen says how many records changed and where the list is."""

    def nest(record: dict) -> None:
        entity_type, _, positions = first_mention(record)
        start, end = positions[0]
        assert end > start, "a mention of two characters or more"
        record["label"][entity_type][record["text"][start]] = [[start, start]]  # nested in it

    workdir, changed = edited_dev(tmp_path, nest)
    result = snakemake(
        workdir, "--cores", "1", "results/data/dev.jsonl", snakefile=workdir / "Snakefile"
    )
    screen = result.stdout + result.stderr
    assert (
        f"nerflow: {changed}: 1 records changed, 1 spans dropped (duplicates, overlap policy "
        "keep_longest); each one is listed in logs/validate/dev.log"
    ) in screen
    log = (workdir / "logs/validate/dev.log").read_text("utf-8")
    assert f"{changed}:3: dropped overlapping span" in log
    assert "records kept (1 changed: 1 spans dropped), 0 rejected" in log


# --------------------------------------------------------------------------- a killed run


def kill_and_rerun(
    factory: pytest.TempPathFactory,
    config: dict,
    target: str,
    checkpoint: str,
    unfinished: str,
    cores: str = "2",
) -> tuple[Path, Path, str]:
    """An uninterrupted run of ``target`` and, meanwhile, the same run SIGKILLed (its whole
    process group) once ``checkpoint`` exists, then started again with the same plain
    command (``snakemake --cores CORES TARGET``). ``unfinished`` is an output the killed
    run must not have written yet.
    Returns both working directories and the screen of the second start."""
    reference = factory.mktemp("uninterrupted")
    workdir = factory.mktemp("killed")
    for folder in (reference, workdir):
        write_config(folder, config)
    uninterrupted = start_snakemake(reference, "--cores", cores, target)
    process = start_snakemake(workdir, "--cores", cores, target, new_session=True)
    deadline = time.monotonic() + 600
    while not (workdir / checkpoint).exists() and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 10 minutes"
        time.sleep(0.02)
    assert process.poll() is None, (
        f"the run ended ({process.returncode}) before it could be killed:\n"
        + (workdir / "snakemake.out").read_text("utf-8")[-3000:]
    )
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while group_members(process.pid):
        assert time.monotonic() < deadline, f"still alive: {group_members(process.pid)}"
        time.sleep(0.1)
    # The situation that used to need --unlock and --rerun-incomplete:
    assert not (workdir / unfinished).exists()
    assert list((workdir / ".snakemake/locks").glob("*.lock")), "no stale lock left"
    assert any(p.is_file() for p in (workdir / ".snakemake/incomplete").rglob("*"))

    rerun = snakemake(workdir, "--cores", cores, target)  # the same plain command
    wait_snakemake(uninterrupted)
    return reference, workdir, rerun.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Training killed once its first checkpoint exists, and an uninterrupted run."""
    return kill_and_rerun(
        tmp_path_factory,
        recovery_config(),
        TARGET,
        checkpoint="results/tiny/checkpoints/state.pt",
        unfinished="results/tiny/train_summary.json",
    )


def test_one_plain_rerun_after_a_kill_resumes_training(runs: tuple[Path, Path, str]) -> None:
    _reference, workdir, screen = runs
    assert screen.count(DIED) == 1, screen[-3000:]
    summary = load_json(workdir / "results/tiny/train_summary.json")
    assert summary["resumed_from"] and summary["resumed_from"]["global_step"] > 0, summary
    assert summary["steps"] == 36 and summary["stop_reason"] == "completed"
    assert "resuming from" in (workdir / "logs/tiny/train.log").read_text("utf-8")
    assert not (workdir / "results/tiny/checkpoints").exists()  # removed after success
    assert not list((workdir / ".snakemake/locks").glob("*.lock"))


def test_the_resumed_run_scores_like_an_uninterrupted_one(runs: tuple[Path, Path, str]) -> None:
    uninterrupted, workdir, _screen = runs
    assert load_json(uninterrupted / "results/tiny/train_summary.json")["resumed_from"] is None
    assert load_json(workdir / TARGET) == load_json(uninterrupted / TARGET)
    predictions = "results/tiny/predictions/dev.json"
    assert (workdir / predictions).read_bytes() == (uninterrupted / predictions).read_bytes()

    def curve(folder: Path) -> list[tuple]:
        lines = (folder / "results/tiny/train_log.jsonl").read_text("utf-8").splitlines()
        return [
            (line["epoch"], line["step"], line["loss"], line["dev_micro_f1"])
            for line in map(json.loads, lines)
        ]

    assert curve(workdir) == curve(uninterrupted)


# --------------------------------------------------------------------------- a killed pretraining


@pytest.fixture(scope="module")
def pretrain_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """MLM pretraining killed once its first checkpoint exists, and an uninterrupted run."""
    config = recovery_config()
    config["pretraining"] = {"mini": PRETRAINING}
    return kill_and_rerun(
        tmp_path_factory,
        config,
        PRETRAIN_TARGET,
        checkpoint="results/pretrain/mini/checkpoints/state.pt",
        unfinished=PRETRAIN_TARGET,
        # one thread a job: two runs side by side with two threads each crawl on two cores
        cores="1",
    )


def test_one_plain_rerun_after_a_kill_resumes_pretraining(
    pretrain_runs: tuple[Path, Path, str],
) -> None:
    reference, workdir, screen = pretrain_runs
    assert screen.count(DIED) == 1, screen[-3000:]
    summary = load_json(workdir / PRETRAIN_TARGET / "nerflow_pretrain.json")["summary"]
    assert summary["resumed_from"] and 0 < summary["resumed_from"]["step"] < 120, summary
    assert summary["steps"] == 120 and summary["stop_reason"] == "epochs"
    assert "resuming from" in (workdir / "logs/pretrain/mini/pretrain.log").read_text("utf-8")
    assert not (workdir / "results/pretrain/mini/checkpoints").exists()  # removed after success
    assert not list((workdir / ".snakemake/locks").glob("*.lock"))

    # ... to the weights and held-out curve of a run that was never killed
    uninterrupted = load_json(reference / PRETRAIN_TARGET / "nerflow_pretrain.json")
    assert uninterrupted["summary"]["resumed_from"] is None
    weights = f"{PRETRAIN_TARGET}/model.safetensors"
    assert (workdir / weights).read_bytes() == (reference / weights).read_bytes()

    def curve(folder: Path) -> list[tuple]:
        lines = (folder / "results/pretrain/mini/pretrain_log.jsonl").read_text("utf-8")
        return [
            (line["epoch"], line["step"], line["loss"], line["heldout_loss"])
            for line in map(json.loads, lines.splitlines())
        ]

    assert curve(workdir) == curve(reference)


# --------------------------------------------------------------------------- lock safety


def start_ticks(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def test_only_the_locks_of_a_dead_run_are_removed(tmp_path: Path) -> None:
    """Owner records as ``onstart`` writes them (recovery.smk); a dry run parses the
    workflow, which is when dead runs' locks are removed."""
    write_config(tmp_path, recovery_config())
    locks = tmp_path / ".snakemake/locks"
    owners = tmp_path / ".snakemake/nerflow_owners"
    locks.mkdir(parents=True)
    owners.mkdir(parents=True)
    finished = subprocess.Popen(["true"])
    finished.wait()  # a pid that is gone
    living = subprocess.Popen(["sleep", "300"])
    host = socket.gethostname()

    def lock_of(name: str, pid: int, owner_host: str = host, started: int | None = None) -> Path:
        lock = locks / f"{name}.output.lock"
        lock.write_text(f"{tmp_path / 'results/data/train.jsonl'}\n", encoding="utf-8")
        info = lock.stat()
        owner = {
            "host": owner_host,
            "pid": pid,
            "started": started,
            "time": "then",
            "locks": {str(lock): [info.st_ino, info.st_mtime_ns]},
        }
        (owners / f"{owner_host}-{pid}-{name}.json").write_text(json.dumps(owner), "utf-8")
        return lock

    try:
        dead = lock_of("0", finished.pid)
        alive = lock_of("1", living.pid, started=start_ticks(living.pid))
        elsewhere = lock_of("2", finished.pid, owner_host=host + "-elsewhere")
        replaced = lock_of("3", finished.pid)
        replaced.unlink()  # the dead run's file is gone; a new one took its name
        replaced.write_text("another run's lock\n", encoding="utf-8")
        os.utime(replaced, ns=(1, 1))
        # a live pid that belongs to another process than the recorded one (pid reused)
        reused = lock_of("4", living.pid, started=start_ticks(living.pid) + 1)

        result = snakemake(tmp_path, "-n")
        assert not dead.exists() and not reused.exists()
        assert alive.exists() and elsewhere.exists() and replaced.exists()
        assert result.stderr.count(DIED) == 2
        assert {p.name for p in owners.iterdir()} == {
            f"{host}-elsewhere-{finished.pid}-2.json",
            f"{host}-{living.pid}-1.json",
        }
    finally:
        living.kill()
        living.wait()
    result = snakemake(tmp_path, "-n")
    assert not alive.exists() and result.stderr.count(DIED) == 1
    assert elsewhere.exists() and replaced.exists()
