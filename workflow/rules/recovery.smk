# Startup checks, read before anything else: a run that died is resumed by the next plain
# `snakemake`, and a data set the workflow cannot use stops with a message that says why.
#
# A dead run. While it runs, Snakemake locks the working directory (lock files under
# .snakemake/locks naming the run's input and output files) and removes the lock when it
# ends. A run killed with SIGKILL (OOM killer, lost session, kill -9) leaves the lock behind,
# and every later run stops with a LockException until `snakemake --unlock`. The lock files
# do not say who wrote them, so `onstart` (real runs only, after Snakemake took its lock)
# records the main Snakemake process: host, pid, process start time, and the lock files it
# wrote (with their inode and mtime), in .snakemake/nerflow_owners/. When the workflow is
# parsed, the recorded lock files of an owner that is gone (same host, no live process
# with that pid and start time) are removed, with one line on screen. Locks of a live run,
# of a run on another host, and locks nobody recorded are left alone: Snakemake refuses to
# run then, as before. The jobs the dead run left incomplete are rerun because
# profiles/default sets rerun-incomplete; training and MLM pretraining resume from their
# checkpoints (results/{run}/checkpoints, results/pretrain/{name}/checkpoints: outside the
# rules' outputs).

import datetime
import json
import os
import socket
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

LOCK_OWNERS = Path(".snakemake") / "nerflow_owners"


def _process_start(pid):
    """Start time of ``pid`` in clock ticks since boot (Linux), or None if unknown."""
    try:
        stat = Path(os.sep, "proc", str(pid), "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie: killed, not yet reaped
        return "zombie"
    return int(fields[19])


def _owner_alive(owner):
    """True unless ``owner`` certainly is gone (when in doubt, it lives)."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    started = _process_start(owner["pid"])
    if started == "zombie":
        return False
    recorded = owner.get("started")
    return started is None or recorded is None or started == recorded


def _file_id(path):
    info = os.stat(path)
    return [info.st_ino, info.st_mtime_ns]


def remove_dead_owners_locks():
    """Remove the lock files of recorded Snakemake runs that are gone (see above)."""
    if not LOCK_OWNERS.is_dir():
        return
    for record in sorted(LOCK_OWNERS.glob("*.json")):
        try:
            owner = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _owner_alive(owner):
            continue
        removed = []
        for lock, file_id in owner.get("locks", {}).items():
            try:
                if _file_id(lock) == file_id:  # still the dead run's file
                    os.remove(lock)
                    removed.append(lock)
            except OSError:
                pass
        record.unlink(missing_ok=True)
        if removed:
            print(
                f"nerflow: removed the lock of a Snakemake run that died (pid {owner['pid']}, "
                f"started {owner.get('time', '?')}): {', '.join(removed)}",
                file=sys.stderr,
            )


def record_owner():
    """Record this (main) Snakemake process and the lock files it holds."""
    # FilePersistence's own record of the lock files this process wrote
    held = getattr(workflow.persistence, "_lockfile", {})
    locks = {}
    for lock in held.values():
        try:
            locks[os.path.abspath(lock)] = _file_id(lock)
        except OSError:
            pass
    if not locks:  # --nolock, or a persistence backend without lock files
        return
    LOCK_OWNERS.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    owner = {
        "host": socket.gethostname(),
        "pid": pid,
        "started": _process_start(pid),
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
        "locks": locks,
    }
    target = LOCK_OWNERS / f"{owner['host']}-{pid}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(owner), encoding="utf-8")
    os.replace(tmp, target)


def forget_owner():
    (LOCK_OWNERS / f"{socket.gethostname()}-{os.getpid()}.json").unlink(missing_ok=True)


def require_dev_split():
    """Dev selects models and epochs: a data set without one cannot be trained."""
    data = config.get("data") or {}
    if data.get("train") and not data.get("dev"):
        raise WorkflowError(
            "config data.dev is missing: this workflow needs a labelled dev split (it picks "
            "the best epoch and compares models on it; test never does). Data sets "
            "published as train/test only (MSRA, for one) need a dev file made from train: "
            "move some train lines (say 10%) into a new dev.json and set data.dev to it "
            "(config/README.md, `data`)."
        )


if workflow.is_main_process:
    remove_dead_owners_locks()
require_dev_split()


onstart:
    if workflow.is_main_process:
        record_owner()


onsuccess:
    forget_owner()


onerror:
    forget_owner()
