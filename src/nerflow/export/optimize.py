"""Making an exported graph faster on onnxruntime: fusions, and int8 quantization.

- :func:`fuse_for_ort` (every export): onnxscript's onnxruntime fusions replace a
  transformer's attention, GELU and layer-norm subgraphs by onnxruntime's fused kernels
  (``Attention``, ``BiasGelu``, ``SkipLayerNormalization``): the dynamo exporter writes
  attention out op by op, where PyTorch runs one fused kernel. A graph without such
  patterns (a BiLSTM's) is left as it is. The graph then needs onnxruntime, which is what
  :class:`~nerflow.inference.onnx_predictor.OnnxPredictor` runs.
- :func:`quantize_int8` (``nerflow export --quantize int8``): onnxruntime's dynamic
  quantization stores the weights of the matrix products and of the LSTMs as int8 (per
  output channel) and quantizes their inputs per call; on CPUs with int8 dot-product units
  (AVX-512 VNNI, AMX) those kernels run several times faster than float32 ones. The other
  nodes (embeddings, rotary span scores, masks) stay float32. The scores move a little
  (the export checks them against :data:`TOLERANCE`), and the F1 it costs is measured on
  dev: bench/onnx_predict.py.

Before quantizing, constants are folded (onnxruntime's basic graph optimizations): the
exporter hands LSTMs their weights through ``Unsqueeze`` nodes, which the quantizer
takes for computed inputs and leaves alone.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

INT8 = "int8"
QUANTIZATIONS = (INT8,)
QUANTIZED_OPS = ("MatMul", "Gemm", "LSTM")
FUSED_OPS = ("Attention", "BiasGelu", "FastGelu", "Gelu", "SkipLayerNormalization")
TOLERANCE = 0.25
"""Largest difference allowed between the int8 graph's scores and PyTorch's, relative to
the largest score (at least 1). It catches a wrong graph (off by about the scale itself),
not a lost point of F1, which only a dev set measures: the trained CLUENER models differ
by about 1 %, the test suite's random models, whose weights are scaled up, by up to 13 %."""


def check_quantization(name: str | None) -> str | None:
    """``name`` if it is one of :data:`QUANTIZATIONS` (or None: no quantization)."""
    if name is not None and name not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {name!r}: one of {', '.join(QUANTIZATIONS)}")
    return name


def fuse_for_ort(path: Path) -> dict[str, int]:
    """Apply onnxscript's onnxruntime fusions to the graph at ``path`` in place; how many
    nodes of each fused kind it has (empty: nothing fused, the file is untouched)."""
    from onnxscript import ir
    from onnxscript.rewriter.ort_fusions import optimize_for_ort

    model = ir.load(str(path))
    before = Counter(node.op_type for node in model.graph.all_nodes())
    optimized = optimize_for_ort(model)
    model = optimized[0] if isinstance(optimized, tuple) else (optimized or model)
    after = Counter(node.op_type for node in model.graph.all_nodes())
    fused = {op: after[op] - before[op] for op in FUSED_OPS if after[op] > before[op]}
    if fused:
        ir.save(model, str(path))
    return fused


def quantize_int8(path: Path) -> dict[str, int]:
    """Quantize the graph at ``path`` in place; how many nodes of each of
    :data:`QUANTIZED_OPS` were quantized."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="nerflow_quantize_") as work:
        folded = Path(work) / "folded.onnx"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        quiet = logging.getLogger()
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # "consider pre-processing": shapes are dynamic here
        try:
            quantize_dynamic(
                folded,
                path,
                op_types_to_quantize=list(QUANTIZED_OPS),
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        finally:
            quiet.setLevel(level)
        before = _op_counts(onnx.load(str(folded), load_external_data=False))
    after = _op_counts(onnx.load(str(path), load_external_data=False))
    return {op: before[op] - after[op] for op in QUANTIZED_OPS if before[op] > after[op]}


def _op_counts(model: Any) -> Counter[str]:
    return Counter(node.op_type for node in model.graph.node)
