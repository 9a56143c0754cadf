"""The locks of Snakemake runs that died, found and removed.

While it runs, Snakemake locks the working directory (lock files under ``.snakemake/locks``
naming the run's input and output files) and removes the lock when it ends. A run killed
with SIGKILL (OOM killer, lost session, ``kill -9``) leaves the lock behind, and every later
run stops with a ``LockException`` until ``snakemake --unlock``. The lock files do not say
who wrote them, so the workflow's ``onstart`` hook records the main Snakemake process
(:func:`record_owner`: host, pid, process start time, and the lock files it wrote with their
inode and mtime) in an owners folder, and the next parse removes the recorded lock files of
an owner that is gone (:func:`remove_dead_owners_locks`). Locks of a live run, of a run on
another host, and locks nobody recorded are left alone: Snakemake refuses to run then, as
before. ``workflow/rules/recovery.smk`` holds the hooks.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ZOMBIE = "zombie"


def process_start(pid: int) -> int | str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), :data:`ZOMBIE` for a killed
    process not yet reaped, or None if unknown."""
    try:
        stat = Path(os.sep, "proc", str(pid), "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return ZOMBIE
    return int(fields[19])


def owner_alive(owner: dict[str, Any]) -> bool:
    """True unless the recorded ``owner`` certainly is gone (when in doubt, it lives)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = process_start(owner["pid"])
    if started == ZOMBIE:
        return False
    recorded = owner.get("started")
    return started is None or recorded is None or started == recorded


def file_id(path: str | Path) -> list[int]:
    """What tells one file from a later one at the same path: inode and mtime."""
    info = os.stat(path)
    return [info.st_ino, info.st_mtime_ns]


def remove_dead_owners_locks(owners: Path) -> list[str]:
    """Remove the lock files of the recorded runs in ``owners`` that are gone; one line per
    dead run that had locks left, for the screen."""
    messages: list[str] = []
    if not owners.is_dir():
        return messages
    for record in sorted(owners.glob("*.json")):
        try:
            owner = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if owner_alive(owner):
            continue
        removed = []
        for lock, recorded_id in owner.get("locks", {}).items():
            try:
                if file_id(lock) == recorded_id:  # still the dead run's file
                    os.remove(lock)
                    removed.append(lock)
            except OSError:
                pass
        record.unlink(missing_ok=True)
        if removed:
            messages.append(
                f"nerflow: removed the lock of a Snakemake run that died (pid {owner['pid']}, "
                f"started {owner.get('time', '?')}): {', '.join(removed)}"
            )
    return messages


def owner_record(owners: Path, pid: int | None = None) -> Path:
    """The file that records process ``pid`` (default: this one) of this host."""
    return owners / f"{socket.gethostname()}-{pid or os.getpid()}.json"


def record_owner(owners: Path, held_locks: Iterable[str]) -> Path | None:
    """Record this (main) Snakemake process and the lock files it holds; None when it holds
    none (``--nolock``, or a persistence backend without lock files)."""
    locks = {}
    for lock in held_locks:
        try:
            locks[os.path.abspath(lock)] = file_id(lock)
        except OSError:
            pass
    if not locks:
        return None
    owners.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    owner = {
        "host": socket.gethostname(),
        "pid": pid,
        "started": process_start(pid),
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
        "locks": locks,
    }
    target = owner_record(owners, pid)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(owner), encoding="utf-8")
    os.replace(tmp, target)
    return target


def forget_owner(owners: Path) -> None:
    owner_record(owners).unlink(missing_ok=True)
