"""Predict one split with a trained model (sliding windows, spans on the original text)."""

import torch

from nerflow import stage
from nerflow.inference.predict import predict_file

smk = snakemake  # noqa: F821
log = stage.start(smk)
torch.set_num_threads(smk.threads)
count = predict_file(
    smk.input.model,
    smk.input.records,
    smk.output[0],
    device=smk.params.device,
    analyses=next(iter(smk.input.analysis), None),  # LAC's analysis of the split, when used
)
log.info("%d records predicted", count)
stage.finish(smk)
