"""LAC's analysis of one split: per record its word position x tag ids and emission
scores and hidden layer, keyed by the sha256 of its text (nerflow.features.lac_analyses)."""

from nerflow import stage
from nerflow.features.lac_analyses import analyse_file

smk = snakemake  # noqa: F821
log = stage.start(smk)
count = analyse_file(smk.input.records, smk.output[0], threads=smk.threads)
log.info("%d records analysed", count)
stage.finish(smk)
