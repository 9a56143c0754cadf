"""A feature's analysis of one split (LAC's: per record its word position x tag ids,
emission scores and hidden layer, keyed by the sha256 of its text)."""

from nerflow import stage
from nerflow.features.spec import analysis_feature

smk = snakemake  # noqa: F821
log = stage.start(smk)
feature = analysis_feature(smk.wildcards.analysis)
count = feature.analyse_file(smk.input.records, smk.output[0], threads=smk.threads)
log.info("%d records analysed", count)
stage.finish(smk)
