"""Entities per type and split, from the validation reports."""

import json

from nerflow import stage
from nerflow.data.labels import read_labels
from nerflow.report.plots import entity_counts, label_distribution_figure, save_figure

smk = snakemake  # noqa: F821
log = stage.start(smk)
reports = {}
for split, path in zip(smk.params.splits, smk.input.reports, strict=True):
    with open(path, encoding="utf-8") as handle:
        reports[split] = json.load(handle)
types = read_labels(smk.input.labels)
counts = entity_counts(reports)
save_figure(label_distribution_figure(counts, types), smk.output[0])
log.info("entities per split: %s", {split: sum(c.values()) for split, c in counts.items()})
stage.finish(smk)
