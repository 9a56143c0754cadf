"""Helpers shared by the thin ``workflow/scripts`` adapters (logging and provenance)."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any

from nerflow.errors import UserError
from nerflow.provenance import provenance, write_meta

STARTUP_MESSAGE = "start-up %.3f s"
"""What :func:`start` logs: seconds from the job's process start to its first line of work
(interpreter, Snakemake's script preamble, imports); ``bench/stage_costs.py`` reads it."""

PRETRAINED_PREFIX = "pretrained:"
"""Encoder prefix of an experiment that fine-tunes a pretraining stage's model (config)."""


def _show_user_errors(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
    """An uncaught :class:`~nerflow.errors.UserError` is printed as its message alone (the
    job log is what Snakemake shows on screen); anything else with its traceback."""
    if isinstance(error, UserError):
        print(f"ERROR: {error}", file=sys.stderr)
    else:
        sys.__excepthook__(kind, error, traceback)


def start(smk: Any) -> logging.Logger:
    """Send stderr and logging of a Snakemake ``script:`` job to its ``log[0]``; errors a
    user can act on are shown without a traceback."""
    sys.excepthook = _show_user_errors
    if smk.log:
        sys.stderr = open(smk.log[0], "w", encoding="utf-8", buffering=1)  # noqa: SIM115
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logger = logging.getLogger(smk.rule)
    logger.info("rule %s, wildcards %s", smk.rule, dict(smk.wildcards.items()))
    logger.info(STARTUP_MESSAGE, startup_seconds())
    return logger


def say(logger: logging.Logger, message: str) -> None:
    """One line on the screen of the Snakemake process (the job's own stderr, which
    :func:`start` sent to the log, is not shown for jobs that succeed), and in the log."""
    print(f"nerflow: {message}", file=sys.__stderr__, flush=True)
    logger.info(message)


def startup_seconds() -> float:
    """Seconds since this process started. On Linux from ``/proc/self/stat``'s start time
    against the boot clock (10 ms steps); elsewhere from psutil (a Snakemake dependency),
    whose Linux boot time is rounded down to the second, hence not used there."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        started = ticks / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, AttributeError, ValueError, IndexError):
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())


def finish(smk: Any, *, outputs: Iterable[str] | None = None) -> None:
    """Write the provenance sidecar of every output of the job (or of ``outputs``).

    The code block is the rule's ``params.code`` (``script_code`` in
    ``workflow/rules/common.smk``: the modules the script imports and their fingerprint),
    so no module list is typed in a script. Outputs of an experiment, an ensemble or a
    pretraining stage also record the seeds behind them (:func:`run_seeds`)."""
    params = {key: value for key, value in smk.params.items() if key != "code"}
    params["wildcards"] = dict(smk.wildcards.items())
    code = smk.params.get("code")
    if not isinstance(code, Mapping):  # a rule without script_code: say so, do not guess
        code = {"fingerprint": code, "modules": []}
    block = provenance(
        smk.rule,
        params,
        list(smk.input),
        code=code,
        seed=run_seeds(smk.config, dict(smk.wildcards.items())),
    )
    write_meta(list(smk.output) if outputs is None else list(outputs), block)


def run_seeds(config: Mapping[str, Any], wildcards: Mapping[str, str]) -> dict | None:
    """The seeds behind a job's outputs, from the workflow config (its schema fills the
    default seeds in) and the job's wildcards.

    An experiment ``{run}``: ``{"train": seed}``, plus ``"pretraining"`` when its encoder is
    ``pretrained:NAME``. An ensemble ``{run}``: ``{"members": {member: <its seeds>}}``.
    A pretraining stage ``{name}``: ``{"pretraining": seed}``. Anything else: ``None``.
    A task other than NER keeps its experiments in the block named after it
    (``classification.experiments``)."""
    task = config.get("task") or "ner"
    experiments = config.get("experiments") or {}
    if task != "ner":
        experiments = (config.get(task) or {}).get("experiments") or {}
    pretraining = config.get("pretraining") or {}
    ensembles = config.get("ensembles") or {}

    def pretraining_seed(name: str) -> Any:
        return (pretraining.get(name) or {}).get("seed")

    def experiment_seeds(name: str) -> dict:
        experiment = experiments[name]
        seeds = {"train": (experiment.get("train") or {}).get("seed")}
        encoder = str(experiment.get("encoder", ""))
        if encoder.startswith(PRETRAINED_PREFIX):
            seeds["pretraining"] = pretraining_seed(encoder[len(PRETRAINED_PREFIX) :])
        return seeds

    run = wildcards.get("run")
    if run in experiments:
        return experiment_seeds(run)
    if run in ensembles:
        return {"members": {m: experiment_seeds(m) for m in ensembles[run].get("members", [])}}
    if run is None and wildcards.get("name") in pretraining:
        return {"pretraining": pretraining_seed(wildcards["name"])}
    return None
