"""Download the CLUENER archive and extract train/dev/test, checking each file's sha256."""

from nerflow import stage
from nerflow.data.download import fetch_cluener

smk = snakemake  # noqa: F821
log = stage.start(smk)
fetch_cluener(smk.params.url, list(smk.output), smk.params.sha256)
stage.finish(smk)
