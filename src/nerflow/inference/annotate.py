"""Tag user texts with trained models: plain text or JSON lines in, CLUENER JSON lines out.

The same path serves ``nerflow predict`` and the workflow's ``annotate`` rule. Inputs are
read with :func:`nerflow.data.user_texts.iter_input_texts` (one text per line, or objects with a
string ``text`` whose other fields are kept), predicted chunk by chunk with sliding
windows (:func:`nerflow.inference.streaming.stream_predictions`), and each output line holds the
input's fields, its ``id`` and the predicted ``label`` with offsets on the ORIGINAL text.
Several model folders form an ensemble (span-level vote). A folder exported by
``nerflow export`` (:mod:`nerflow.export.onnx`) runs on onnxruntime, without torch.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from nerflow.atomic import atomic_output
from nerflow.data.user_texts import InputText, read_input_texts
from nerflow.inference.onnx_predictor import OnnxPredictor, is_exported
from nerflow.inference.settings import PREDICT_BATCH_SIZE
from nerflow.inference.streaming import SpanPredictor, stream_predictions
from nerflow.jsonio import json_line

if TYPE_CHECKING:
    import torch


def load_predictor(
    model_dir: str | Path,
    device: str | torch.device | None = "auto",
    max_len: int | None = None,
    stride: int | None = None,
    threads: int | None = None,
) -> SpanPredictor:
    """A model folder loaded: an exported folder on onnxruntime (``threads``: its
    intra-op threads; torch is not imported), a PyTorch one on ``device``."""
    if is_exported(model_dir):
        return OnnxPredictor.load(model_dir, max_len=max_len, stride=stride, threads=threads)
    import torch

    from nerflow.inference.predict import Predictor

    if threads:
        torch.set_num_threads(threads)
    return Predictor.load(model_dir, device, max_len=max_len, stride=stride)


def load_predictors(
    model_dirs: Sequence[str | Path],
    device: str | torch.device | None = "auto",
    max_len: int | None = None,
    stride: int | None = None,
    threads: int | None = None,
) -> list[SpanPredictor]:
    """Load every model folder (one, or the members of an ensemble)."""
    return [load_predictor(folder, device, max_len, stride, threads) for folder in model_dirs]


def annotate(
    predictors: Sequence[SpanPredictor], texts: Iterable[InputText], **options: Any
) -> Iterator[dict[str, Any]]:
    """Output objects (see :meth:`InputText.output`) in input order, streamed (the inputs
    wait in a ``tee`` buffer of at most one chunk for their predictions). ``options``:
    those of :func:`~nerflow.inference.streaming.stream_predictions` (``batch_size``,
    ``chunk_size``, ``min_votes``)."""
    inputs, for_records = itertools.tee(texts)
    records = (text.record for text in for_records)
    predicted = stream_predictions(predictors, records, **options)
    for text, record in zip(inputs, predicted, strict=True):
        yield text.output(record.spans)


def annotate_folders(
    model_dirs: Sequence[str | Path],
    texts: Iterable[InputText],
    *,
    device: str | torch.device | None = "auto",
    batch_size: int = PREDICT_BATCH_SIZE,
    max_len: int | None = None,
    stride: int | None = None,
    min_votes: int | None = None,
    threads: int | None = None,
) -> Iterator[dict[str, Any]]:
    """NER's annotator (:data:`nerflow.tasks.task.Annotator`): :func:`annotate` with the
    models of ``model_dirs``, loaded before the first text is read (``threads``: CPU
    threads of torch or onnxruntime)."""
    predictors = load_predictors(model_dirs, device, max_len, stride, threads)
    return annotate(predictors, texts, batch_size=batch_size, min_votes=min_votes)


def write_annotations(
    predictors: Sequence[SpanPredictor],
    texts: Iterable[InputText],
    out: TextIO,
    batch_size: int = PREDICT_BATCH_SIZE,
    min_votes: int | None = None,
    on_text: Callable[[], Any] | None = None,
) -> int:
    """Write :func:`annotate`'s objects as JSON lines to ``out``; return how many.
    ``on_text`` is called after each line (a progress bar's update)."""
    count = 0
    for obj in annotate(predictors, texts, batch_size=batch_size, min_votes=min_votes):
        out.write(json_line(obj))
        count += 1
        if on_text is not None:
            on_text()
    return count


def annotate_file(
    model_dirs: Sequence[str | Path],
    in_path: str | Path,
    out_path: str | Path,
    fmt: str = "auto",
    batch_size: int = PREDICT_BATCH_SIZE,
    device: str | torch.device | None = "auto",
    min_votes: int | None = None,
) -> int:
    """Tag a file with one model or an ensemble; the output appears only when complete."""
    predictors = load_predictors(model_dirs, device)
    with atomic_output(out_path) as handle:
        texts = read_input_texts(in_path, fmt)
        return write_annotations(predictors, texts, handle, batch_size, min_votes)
