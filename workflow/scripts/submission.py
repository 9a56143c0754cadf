"""CLUENER submission file (cluener_predict.json) and its upload zip for one experiment."""

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.data.submission import write_submission

smk = snakemake  # noqa: F821
log = stage.start(smk)
count = write_submission(read_records(smk.input.predictions), smk.output.json, smk.output.archive)
log.info("%d submission lines", count)
stage.finish(smk)
