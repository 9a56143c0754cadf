"""An ensemble's train_summary.json: its members' training cost and figures."""

import json

from nerflow import stage
from nerflow.inference.ensemble import ensemble_summary
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
summaries = []
for path in smk.input:
    with open(path, encoding="utf-8") as handle:
        summaries.append(json.load(handle))
summary = ensemble_summary(smk.params.members, summaries, smk.params.min_votes)
write_json(smk.output[0], summary)
log.info("%d members, %s train minutes in all", len(summaries), summary["train_minutes"])
stage.finish(smk)
