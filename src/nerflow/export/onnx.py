"""``nerflow export MODEL_DIR OUT_DIR --format onnx``: a model folder as an ONNX graph.

The graph is the model's scoring part: the emitter (encoder and input-feature embeddings,
LAC's encoder included) and the head's scores (a span head's rotary span scores; a tag
head's scores are the emissions), with dynamic batch and length. Decoding stays in the
package (pytorch-crf's Viterbi does not export, issue 80 of pytorch-crf; the windows and the
restore on the original text are not tensor work): the exported folder keeps the head's
files, the feature assets, ``tokenizer.json`` and ``nerflow_head.json`` beside
``model.onnx``, and ``nerflow_export.json`` what the graph takes; the head's decoder
(:mod:`nerflow.heads`) decodes the graph's output in
:class:`~nerflow.inference.onnx_predictor.OnnxPredictor`, without torch.

A transformer's attention, GELU and layer norms are fused into onnxruntime's kernels, and
``quantization="int8"`` stores int8 weights (:mod:`nerflow.export.optimize`).

The export checks itself before it is put in place: on texts of several lengths (windows
of one and of several batches) the onnxruntime scores must equal PyTorch's within
:data:`TOLERANCE` and the predicted spans must be the same; an int8 graph is checked
again, within its own tolerance, its equal spans counted. The figures go into the
manifest. Needs ``pip install "nerflow[export]"`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import contextlib
import io
import logging
import platform
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nerflow.atomic import atomic_model_folder
from nerflow.data.records import Record
from nerflow.export import optimize
from nerflow.inference.onnx_predictor import (
    EXPORT_FILE,
    EXPORT_FORMAT,
    MASK_INPUTS,
    ONNX_FILE,
    OnnxPredictor,
)
from nerflow.inference.predict import Predictor
from nerflow.jsonio import write_json
from nerflow.models.folder import load_model
from nerflow.models.meta import write_model_meta
from nerflow.models.tagger import TaggerModel

FORMATS = ("onnx",)
OPSET = 18
TOLERANCE = 1e-4
"""Largest difference allowed between onnxruntime's and PyTorch's scores, relative to the
largest score (at least 1): float32 kernels differ in summation order, not in results."""
CHECK_TEXTS = (
    "北京大学的王小明去了上海。",
    "ac米兰CS1.6，浙商银行叶老桂博士认为：《红楼梦》是2019年的书。",
    "我",
)
"""Texts the export checks on (with their repeats, they make windows of many lengths)."""


class ExportError(ValueError):
    """An export that cannot be made or that does not reproduce the PyTorch model."""


class ScoringGraph(nn.Module):
    """What the ONNX graph computes: the head's scores of the emitter's outputs."""

    def __init__(self, model: TaggerModel, feature_names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.feature_names = list(feature_names)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labelled: torch.Tensor,
        *features: torch.Tensor,
    ) -> torch.Tensor:
        named = dict(zip(self.feature_names, features, strict=True))
        outputs = self.model.emitter(input_ids, attention_mask, **named)
        return self.model.head.scores(outputs, labelled)


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote and how closely it reproduces the PyTorch model."""

    folder: Path
    inputs: list[str]
    max_abs_diff: float
    scale: float
    windows: int
    records: int
    same_spans: int
    """Check records whose spans equal PyTorch's (all of them, unless quantized)."""
    quantization: str | None = None


def check_records(texts: Sequence[str] = CHECK_TEXTS) -> list[Record]:
    """The check's records: each text alone and repeated (several windows)."""
    texts = [*texts, *(text * 7 for text in texts)]
    return [Record(i, text, []) for i, text in enumerate(texts)]


def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path,
    opset: int = OPSET,
    texts: Sequence[str] = CHECK_TEXTS,
    quantization: str | None = None,
) -> ExportReport:
    """Export ``model_dir`` into ``out_dir`` (see the module docstring); the folder appears
    only when the check passed. ``quantization`` ``int8``: the checked float32 graph is
    then quantized (:mod:`nerflow.export.optimize`) and checked again."""
    try:
        quantization = optimize.check_quantization(quantization)
    except ValueError as error:
        raise ExportError(str(error)) from None
    source = Path(model_dir)
    model, tokenizer, meta = load_model(source, "cpu")
    predictor = Predictor.load(source, "cpu")
    records = check_records(texts)
    feature_names = model.featurizer.tensor_names if model.featurizer is not None else []
    graph = ScoringGraph(model, feature_names).eval()
    feeds = _example_feeds(predictor, records[:2])
    names = [*MASK_INPUTS, *feature_names]
    with atomic_model_folder(out_dir) as folder:
        _export_graph(graph, feeds, names, folder / ONNX_FILE, opset)
        fused = optimize.fuse_for_ort(folder / ONNX_FILE)
        pad_to = None if _any_length(folder / ONNX_FILE, names, feeds) else predictor.max_len
        tokenizer.save_pretrained(str(folder))
        model.head.save(folder)
        if model.featurizer is not None:
            model.featurizer.save(folder)
        write_model_meta(folder, meta)
        manifest = {
            "format": EXPORT_FORMAT,
            "onnx": ONNX_FILE,
            "opset": opset,
            "inputs": names,
            "pad_to": pad_to,
            "fused_ops": fused,
            "quantization": None,
            "torch": torch.__version__,
            "python": platform.python_version(),
        }
        reference: dict[str, Any] = {}  # PyTorch's side of the check, computed once
        exported = _session_check(folder, model, predictor, records, manifest, reference)
        if quantization:
            manifest["quantized_ops"] = optimize.quantize_int8(folder / ONNX_FILE)
            manifest["quantization"] = quantization
            manifest["float32_check"] = manifest.pop("check")
            exported = _session_check(folder, model, predictor, records, manifest, reference)
    return ExportReport(Path(out_dir), **exported)


def _windows(predictor: Predictor, records: Sequence[Record]) -> tuple[list, list | None]:
    """Every window of ``records`` and, for a model with features, its feature arrays."""
    from nerflow.text.tokenization import windows_many

    texts = [r.text for r in records]
    per_text = windows_many(
        texts, predictor.tokenizer, predictor.mode, predictor.max_len, predictor.stride
    )
    toks = [tok for windows in per_text for tok in windows]
    featurizer = predictor.model.featurizer
    if featurizer is None:
        return toks, None
    return toks, [
        featurizer.encode(text, tok)
        for text, windows in zip(texts, per_text, strict=True)
        for tok in windows
    ]


def _example_feeds(predictor: Predictor, records: Sequence[Record]) -> list[torch.Tensor]:
    """Inputs of one batch of windows (rows of different lengths: no axis is 1), padded
    to ``max_len``: the width of a graph that cannot take any other (:func:`_any_length`)."""
    from nerflow.inference.onnx_predictor import window_feeds

    toks, features = _windows(predictor, records)
    feeds = window_feeds(toks, features, predictor.tokenizer.pad_token_id or 0, predictor.max_len)
    return [torch.from_numpy(np.ascontiguousarray(feed)) for feed in feeds.values()]


def _export_graph(
    graph: ScoringGraph, feeds: list[torch.Tensor], names: list[str], path: Path, opset: int
) -> None:
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    shapes = tuple({0: batch, 1: length} for _ in feeds)
    chatter = io.StringIO()  # the exporter's progress lines; shown when it fails
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # "torchvision is not installed" and the like
    _forget_rnn_kernels()
    try:
        with (
            warnings.catch_warnings(),
            torch.no_grad(),
            contextlib.redirect_stdout(chatter),
            contextlib.redirect_stderr(chatter),
        ):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph,
                tuple(feeds),
                dynamo=True,
                input_names=names,
                output_names=["scores"],
                # the features are one *args tuple, absent when there are none
                dynamic_shapes=(*shapes[:3], shapes[3:]) if shapes[3:] else shapes,
                opset_version=opset,
                verbose=False,
            )
    except ImportError as error:
        raise ExportError(f"ONNX export needs pip install 'nerflow[export]' ({error})") from None
    except Exception as error:
        lines = chatter.getvalue().strip().splitlines()[-5:]
        raise ExportError(f"torch.onnx.export failed: {error}\n" + "\n".join(lines)) from error
    finally:
        exporter_log.setLevel(level)
        _forget_rnn_kernels()
    program.save(str(path))


def _forget_rnn_kernels() -> None:
    """Clear the dispatch caches of the recurrent ops. torch's exporter swaps in their
    while-loop decompositions (dynamic lengths) and back without clearing the caches, so
    a second export in one process kept the unrolled kernel: a graph fixed to the
    example's length, padded to ``max_len`` at every call."""
    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input, torch.ops.aten.rnn_tanh.input):
        cache = getattr(op, "_dispatch_cache", None)
        if cache is not None:
            cache.clear()


def _any_length(path: Path, names: list[str], feeds: list[torch.Tensor]) -> bool:
    """Whether the graph runs on a batch narrower than the example's. PyTorch's recurrent
    layers are exported as LSTM nodes, but GRUs (LAC's encoder) are unrolled over the
    example's length: such a graph takes windows padded to ``max_len`` only."""
    import onnxruntime as ort

    from nerflow.inference.onnx_predictor import session_options

    session = ort.InferenceSession(
        str(path), session_options(1), providers=["CPUExecutionProvider"]
    )
    narrow = {name: feed[:, :3].numpy() for name, feed in zip(names, feeds, strict=True)}
    wanted = {node.name for node in session.get_inputs()}
    try:
        session.run(None, {name: value for name, value in narrow.items() if name in wanted})
    except Exception:  # onnxruntime's own error types: a shape that does not fit
        return False
    return True


def _session_check(
    folder: Path,
    model: TaggerModel,
    predictor: Predictor,
    records: Sequence[Record],
    manifest: dict[str, Any],
    reference: dict[str, Any],
) -> dict[str, Any]:
    """Write the manifest, then compare the exported folder with the PyTorch model: the
    scores of every check window (within :data:`TOLERANCE`, or the quantization's) and the
    predicted spans (the same, unless quantized: then counted)."""
    quantization = manifest.get("quantization")
    tolerance = optimize.TOLERANCE if quantization else TOLERANCE
    names = manifest["inputs"]
    write_json(folder / EXPORT_FILE, manifest)
    exported = OnnxPredictor.load(folder)
    toks, features = _windows(predictor, records)
    feeds = exported.batch_feeds(toks, features)
    ours = exported.scores(feeds)
    if not reference:  # the same windows and feeds for every graph of one export
        with torch.no_grad():
            graph_inputs = [torch.from_numpy(feeds[name]) for name in names]
            graph = ScoringGraph(model, names[len(MASK_INPUTS) :])
            reference["scores"] = graph(*graph_inputs).numpy()
        reference["spans"] = [r.spans for r in predictor.predict(records)]
    theirs, torch_spans = reference["scores"], reference["spans"]
    scale = float(max(1.0, np.abs(theirs[theirs > -1e11]).max(initial=0.0)))
    diff = float(np.abs(ours - theirs).max(initial=0.0))
    name = f"the {quantization} graph" if quantization else "the exported graph"
    if not diff <= tolerance * scale:
        raise ExportError(
            f"{name}'s scores differ from PyTorch's by {diff:.3g} (allowed "
            f"{tolerance * scale:.3g}); not exported"
        )
    onnx_spans = [r.spans for r in exported.predict(records)]
    same = sum(a == b for a, b in zip(torch_spans, onnx_spans, strict=True))
    if same < len(records) and not quantization:
        raise ExportError("the exported folder predicts other spans than PyTorch; not exported")
    manifest["check"] = {
        "records": len(records),
        "windows": len(toks),
        "max_abs_diff": diff,
        "tolerance": tolerance * scale,
        "same_spans": same,
    }
    write_json(folder / EXPORT_FILE, manifest)
    return {
        "inputs": names,
        "max_abs_diff": diff,
        "scale": scale,
        "windows": len(toks),
        "records": len(records),
        "same_spans": same,
        "quantization": quantization,
    }
