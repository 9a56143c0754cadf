"""Every run's dev scores (and labelled test scores) side by side in results/dev_scores.json."""

import json

from nerflow import stage
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)


def scores_by_run(paths):
    table = {}
    for run, path in zip(smk.params.runs, paths, strict=True):
        with open(path, encoding="utf-8") as handle:
            table[run] = json.load(handle)
    return table


table = {"experiments": scores_by_run(smk.input.dev)}
if smk.input.test:  # a labelled test split: reported, never used to select
    table["test"] = scores_by_run(smk.input.test)
for run, scores in table["experiments"].items():
    test = table.get("test", {}).get(run)
    log.info(
        "%s: dev micro F1 %.4f%s",
        run,
        scores["micro"]["f1"],
        f", test {test['micro']['f1']:.4f}" if test else "",
    )
write_json(smk.output[0], table)
stage.finish(smk)
