"""Every experiment's dev scores side by side in results/dev_scores.json."""

import json

from nerflow import stage
from nerflow.records import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
table = {}
for run, path in zip(smk.params.runs, smk.input, strict=True):
    with open(path, encoding="utf-8") as handle:
        table[run] = json.load(handle)
    log.info("%s: micro F1 %.4f", run, table[run]["micro"]["f1"])
write_json(smk.output[0], {"experiments": table})
stage.finish(smk, ["nerflow.records"])
