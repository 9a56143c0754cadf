"""Tag a user file with a trained run (one model, or an ensemble's members voting)."""

import torch

from nerflow import stage
from nerflow.inference.annotate import annotate_file

smk = snakemake  # noqa: F821
log = stage.start(smk)
torch.set_num_threads(smk.threads)
count = annotate_file(
    list(smk.input.models),
    smk.input.source,
    smk.output[0],
    fmt=smk.params.format,
    device=smk.params.device,
    min_votes=smk.params.min_votes,
)
log.info("%d texts tagged", count)
stage.finish(smk)
