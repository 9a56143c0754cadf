"""A classification run's report pages on dev: F1 per class, confusion, confident errors."""

import json

from nerflow import stage
from nerflow.classification.report import errors_page, write_figures
from nerflow.report.plots import read_jsonl

smk = snakemake  # noqa: F821
log = stage.start(smk)
run = smk.wildcards.run
with open(smk.input.scores, encoding="utf-8") as handle:
    scores = json.load(handle)
write_figures(scores, f"{run} (dev)", smk.output.f1, smk.output.confusion)
with open(smk.output.errors, "w", encoding="utf-8") as handle:
    handle.write(errors_page(read_jsonl(smk.input.errors), f"{run} (dev)"))
log.info("accuracy %.4f", scores["accuracy"])
stage.finish(smk)
