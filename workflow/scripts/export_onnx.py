"""Export a run's trained model as an ONNX folder that predicts without torch."""

import torch

from nerflow import stage
from nerflow.export.onnx import export_onnx

smk = snakemake  # noqa: F821
log = stage.start(smk)
torch.set_num_threads(smk.threads)
report = export_onnx(smk.input.model, smk.output[0], quantization=smk.params.quantization)
log.info(
    "exported (%s), %s; %d check windows: scores within %.3g of PyTorch's, same spans on "
    "%d of %d check texts",
    ", ".join(report.inputs),
    report.quantization or "float32",
    report.windows,
    report.max_abs_diff,
    report.same_spans,
    report.records,
)
stage.finish(smk)
