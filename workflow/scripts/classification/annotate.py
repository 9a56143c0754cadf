"""Classify a user file with a trained run (one classifier, or an ensemble's members)."""

import torch

from nerflow import stage
from nerflow.classification.predict import annotate_file

smk = snakemake  # noqa: F821
log = stage.start(smk)
torch.set_num_threads(smk.threads)
count = annotate_file(list(smk.input.models), smk.input.source, smk.output[0], smk.params.format)
log.info("%d texts classified", count)
stage.finish(smk)
