"""Type confusion matrix of one experiment on dev (gold vs predicted type, overlapping spans)."""

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.data.labels import read_labels
from nerflow.evaluation.errors import confusion
from nerflow.jsonio import write_json
from nerflow.report.plots import confusion_figure, save_figure

smk = snakemake  # noqa: F821
log = stage.start(smk)
types = read_labels(smk.input.labels)
matrix = confusion(read_records(smk.input.gold), read_records(smk.input.predictions), types)
write_json(smk.output.matrix, matrix)
title = f"{smk.wildcards.run}: type confusion on dev"
save_figure(confusion_figure(matrix, title=title), smk.output.figure)
log.info("%d x %d confusion matrix", len(matrix), len(next(iter(matrix.values()), {})))
stage.finish(smk)
