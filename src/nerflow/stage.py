"""Helpers shared by the thin ``workflow/scripts`` adapters (logging and provenance)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from nerflow.provenance import provenance, write_meta


def start(smk: Any) -> logging.Logger:
    """Send stderr and logging of a Snakemake ``script:`` job to its ``log[0]``."""
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
    return logger


def finish(smk: Any, modules: Iterable[str], outputs: Iterable[str] | None = None) -> None:
    """Write the provenance sidecar of every output of the job (or of ``outputs``)."""
    params = {key: value for key, value in smk.params.items()}
    params["wildcards"] = dict(smk.wildcards.items())
    block = provenance(smk.rule, params, list(smk.input), modules)
    write_meta(list(smk.output) if outputs is None else list(outputs), block)
