"""Prediction with a PyTorch model folder: :class:`Predictor`.

The text side (windows, features of the full text, merging, spans on the original text)
is :func:`nerflow.inference.windowed.predict_windowed`; here the windows are decoded in
length-sorted, dynamically padded batches on the model's device
(:func:`decode_windows`), and the head's decoder turns a record's decoded windows into its
spans (:class:`nerflow.heads.decoder.Decoder`: tags per window merged by their most
central window, or scored spans kept by the window that owns their first character; a
span head decoding ``flat`` keeps the best non-overlapping spans of the whole text, as
its folder says). :func:`predict_file` streams a file through
:func:`nerflow.inference.streaming.stream_predictions`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nerflow.atomic import atomic_output
from nerflow.data.cluener import iter_records
from nerflow.data.records import Record
from nerflow.inference.settings import PREDICT_BATCH_SIZE
from nerflow.inference.streaming import stream_predictions
from nerflow.inference.windowed import Windowing, length_sorted_batches, predict_windowed
from nerflow.jsonio import json_line
from nerflow.models.folder import load_model
from nerflow.models.tagger import TaggerModel
from nerflow.tensors import pad, padding_mask, resolve_device
from nerflow.text.tokenization import TokenizedText


def window_batches(
    toks: Sequence[TokenizedText],
    pad_id: int,
    batch_size: int,
    device: torch.device,
    features: Sequence[dict[str, torch.Tensor]] | None = None,
) -> Iterator[tuple[list[int], dict[str, Any]]]:
    """Length-sorted batches of windows: ``(window indices, model inputs)`` where the
    inputs are ``input_ids``, ``attention_mask``, ``label_mask`` and the feature tensors."""
    for chunk in length_sorted_batches([len(tok) for tok in toks], batch_size):
        rows = [toks[i].input_ids for i in chunk]
        input_ids, attention_mask = pad(rows, pad_id), padding_mask(rows)
        label_mask = pad([toks[i].labelled for i in chunk], 0).bool()
        inputs: dict[str, Any] = {
            "input_ids": input_ids.to(device),
            "attention_mask": attention_mask.to(device),
            "label_mask": label_mask,
        }
        if features is not None:
            width = input_ids.size(1)
            for name in features[chunk[0]]:
                padded = pad([torch.as_tensor(features[i][name]) for i in chunk], 0, width)
                inputs[name] = padded.to(device)
        yield chunk, inputs


def decode_windows(
    model: TaggerModel,
    toks: Sequence[TokenizedText],
    pad_id: int,
    batch_size: int,
    device: torch.device,
    features: Sequence[dict[str, torch.Tensor]] | None = None,
) -> list[Any]:
    """Every window's predictions on its tokens (the head's
    :meth:`~nerflow.heads.decoder.Decoder.token_predictions`), in the input order: for tag
    heads each token's label (None on unlabelled tokens), for the span head its
    ``(first token, last token, type, score)`` spans.

    ``features``: per window, its per-token feature tensors (models with a featurizer).
    """
    results: list[Any] = [None] * len(toks)
    for chunk, inputs in window_batches(toks, pad_id, batch_size, device, features):
        for i, decoded in zip(chunk, model.decode(**inputs), strict=True):
            results[i] = model.head.decoder.token_predictions(toks[i], decoded)
    return results


def predict_records(
    model: TaggerModel,
    tokenizer: Any,
    records: Sequence[Record],
    mode: str,
    max_len: int,
    stride: int,
    scheme: str,
    labels: Sequence[str] | None = None,
    batch_size: int = PREDICT_BATCH_SIZE,
    device: str | torch.device | None = None,
) -> list[Record]:
    """Predict spans for ``records`` (see the module docstring); one output per input.

    ``labels`` defaults to the model's and must equal them when given. ``device`` defaults
    to the device the model's parameters are on. The model's train/eval mode is restored.
    """
    if labels is not None and list(labels) != model.labels:
        raise ValueError(f"labels {list(labels)} differ from the model's {model.labels}")
    if device is None:
        tensors = itertools.chain(model.parameters(), model.buffers())
        device = next((t.device for t in tensors), torch.device("cpu"))
    device = resolve_device(device)
    model.to(device)
    windowing = Windowing(tokenizer, mode, max_len, stride, scheme)

    def decode(toks: Sequence[TokenizedText], features: Sequence[dict] | None) -> list[Any]:
        return decode_windows(model, toks, windowing.pad_id, batch_size, device, features)

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return predict_windowed(
                records, windowing, model.head.decoder, decode, getattr(model, "featurizer", None)
            )
    finally:
        model.train(was_training)


@dataclass
class Predictor:
    """A loaded model with the tokenisation, windows and scheme it predicts with."""

    model: TaggerModel
    tokenizer: Any
    mode: str
    max_len: int
    stride: int
    scheme: str

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        device: str | torch.device | None = "auto",
        max_len: int | None = None,
        stride: int | None = None,
    ) -> Predictor:
        """Load a model folder; ``max_len``/``stride`` default to the values saved with it.
        Training saves the experiment's ``stride``; a folder saved without one (by
        :func:`~nerflow.models.folder.save_model` alone) predicts with windows sharing a
        quarter of ``max_len``."""
        model, tokenizer, meta = load_model(model_dir, device)
        length = int(max_len if max_len is not None else meta.max_len)
        saved = stride if stride is not None else meta.stride
        overlap = int(saved if saved is not None else length // 4)
        return cls(model, tokenizer, meta.tokenization, length, overlap, meta.scheme)

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    @property
    def flat(self) -> bool:
        return self.model.head.flat

    def predict(
        self, records: Sequence[Record], batch_size: int = PREDICT_BATCH_SIZE
    ) -> list[Record]:
        return predict_records(
            self.model,
            self.tokenizer,
            records,
            mode=self.mode,
            max_len=self.max_len,
            stride=self.stride,
            scheme=self.scheme,
            batch_size=batch_size,
        )


def predict_file(
    model_dir: str | Path,
    in_path: str | Path,
    out_path: str | Path,
    batch_size: int = PREDICT_BATCH_SIZE,
    device: str | torch.device | None = "auto",
    stride: int | None = None,
    max_len: int | None = None,
    analyses: str | Path | None = None,
) -> int:
    """Load a saved model, predict a JSON-lines file, write CLUENER JSON lines; return count.

    Streams (see :func:`stream_predictions`); the output appears only when complete.
    ``analyses``: LAC's analyses of the file's texts (the analyse stage's file) for a model
    with lac features (:meth:`~nerflow.features.featurizer.Featurizer.use_analyses`).
    """
    predictor = Predictor.load(model_dir, device, max_len=max_len, stride=stride)
    if analyses is not None:
        if predictor.model.featurizer is None:
            raise ValueError(f"{model_dir}: a model without input features takes no analyses")
        predictor.model.featurizer.use_analyses(analyses)
    count = 0
    with atomic_output(out_path) as handle:
        for record in stream_predictions([predictor], iter_records(in_path), batch_size):
            handle.write(json_line(record.to_json()))
            count += 1
    return count
