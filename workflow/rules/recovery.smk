# Startup checks, read before anything else: a run that died is resumed by the next plain
# `snakemake`, and a data set the workflow cannot use stops with a message that says why.
#
# A dead run's lock files are removed when the workflow is parsed (nerflow.run_locks says
# how they are told from a live run's); `onstart` (real runs only, after Snakemake took its
# lock) records this run. The jobs the dead run left incomplete are rerun because
# profiles/default sets rerun-incomplete; training and MLM pretraining resume from their
# checkpoints (results/{run}/checkpoints, results/pretrain/{name}/checkpoints: outside the
# rules' outputs).

import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from nerflow import run_locks

LOCK_OWNERS = Path(".snakemake") / "nerflow_owners"


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
    for message in run_locks.remove_dead_owners_locks(LOCK_OWNERS):
        print(message, file=sys.stderr)
require_dev_split()


onstart:
    if workflow.is_main_process:
        # FilePersistence's own record of the lock files this process wrote
        held = getattr(workflow.persistence, "_lockfile", {})
        run_locks.record_owner(LOCK_OWNERS, held.values())


onsuccess:
    run_locks.forget_owner(LOCK_OWNERS)


onerror:
    run_locks.forget_owner(LOCK_OWNERS)
