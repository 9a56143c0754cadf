"""nerflow.run_locks: which recorded Snakemake runs are gone, and only their locks removed.
(The end-to-end check, a real run killed and resumed, is in tests/test_recovery.py.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from nerflow import run_locks


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_this_process_lives_and_a_finished_one_is_gone() -> None:
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    assert run_locks.owner_alive({**me, "started": run_locks.process_start(os.getpid())})
    assert not run_locks.owner_alive({**me, "started": -1}), "a reused pid is another process"
    assert not run_locks.owner_alive({"host": socket.gethostname(), "pid": _dead_pid()})
    assert run_locks.owner_alive({"host": "another-host", "pid": _dead_pid()}), "in doubt"


def test_a_killed_unreaped_child_is_a_zombie_and_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped
        assert run_locks.process_start(child.pid) == run_locks.ZOMBIE
        assert not run_locks.owner_alive({"host": socket.gethostname(), "pid": child.pid})
    finally:
        child.wait()


def test_only_the_dead_runs_unchanged_lock_files_are_removed(tmp_path: Path) -> None:
    owners = tmp_path / "owners"
    locks = [tmp_path / name for name in ("a.lock", "b.lock", "c.lock")]
    for lock in locks:
        lock.write_text("x")
    assert run_locks.record_owner(owners, []) is None and not owners.exists()
    record = run_locks.record_owner(owners, [str(locks[0]), str(locks[1]), "missing.lock"])
    assert record == run_locks.owner_record(owners)
    owner = json.loads(record.read_text())
    assert owner["pid"] == os.getpid() and set(owner["locks"]) == {str(locks[0]), str(locks[1])}
    assert run_locks.remove_dead_owners_locks(owners) == [], "a live run keeps its locks"
    assert all(lock.exists() for lock in locks)

    owner["pid"] = _dead_pid()
    record.write_text(json.dumps(owner))
    locks[1].unlink()
    locks[1].write_text("a later run's lock at the same path")
    messages = run_locks.remove_dead_owners_locks(owners)
    assert len(messages) == 1 and str(locks[0]) in messages[0] and str(locks[1]) not in messages[0]
    assert not locks[0].exists() and locks[1].exists() and locks[2].exists()
    assert not record.exists()


def test_forget_owner_removes_this_runs_record(tmp_path: Path) -> None:
    lock = tmp_path / "a.lock"
    lock.write_text("x")
    record = run_locks.record_owner(tmp_path / "owners", [str(lock)])
    assert record is not None and record.exists()
    run_locks.forget_owner(tmp_path / "owners")
    assert not record.exists()
    run_locks.forget_owner(tmp_path / "nowhere")  # nothing recorded: nothing to do
