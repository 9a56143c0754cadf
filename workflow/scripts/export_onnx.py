"""Export a run's trained model as an ONNX folder that predicts without torch."""

import torch

from nerflow import stage
from nerflow.export.onnx import export_onnx

smk = snakemake  # noqa: F821
log = stage.start(smk)
torch.set_num_threads(smk.threads)
report = export_onnx(smk.input.model, smk.output[0])
log.info(
    "exported (%s); %d check windows: scores within %.3g of PyTorch's, same spans",
    ", ".join(report.inputs),
    report.windows,
    report.max_abs_diff,
)
stage.finish(smk)
