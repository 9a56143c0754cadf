"""Prediction: sliding windows -> batched decoding -> character tags -> spans on the original text.

Every record is cut into windows of at most ``max_len`` tokens overlapping by ``stride``
(:func:`nerflow.text.tokenization.windows`; a text that fits is one window). All windows of all
records are sorted by length and decoded in dynamically padded batches; the model's head
turns a record's decoded windows into its spans (:meth:`nerflow.models.head.Head.record_spans`).
Tag heads: each window's token labels become character tags
(:func:`nerflow.text.alignment.char_tags_from_token_labels`), the windows of a record are merged
(:func:`nerflow.text.alignment.merge_window_tags`) and the spans decoded with
:func:`nerflow.text.tagging.tags_to_spans`. Span heads give character spans per window instead,
merged with :func:`nerflow.text.alignment.merge_scored_window_spans`; a head decoding ``flat``
then keeps the best non-overlapping spans of the whole text (its ``span_decoding``, saved
in the model folder, so ``nerflow predict`` decodes as training did).
Output records carry the source id and text unchanged: text is never rebuilt from tokens.

Streaming: :func:`stream_predictions` cuts an iterable of records into chunks of
``chunk_size`` and predicts chunk by chunk, so memory stays flat however long the input;
with several models it votes per chunk (:func:`nerflow.inference.ensemble.vote`).

Models with input features (``model.featurizer``): the features of a record's characters
are computed once on its FULL text and gathered per window, so a window's features equal
those of the same characters in the whole text.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nerflow.atomic import atomic_output
from nerflow.data.cluener import iter_records
from nerflow.data.records import Record
from nerflow.inference.ensemble import vote
from nerflow.inference.settings import PREDICT_BATCH_SIZE
from nerflow.jsonio import json_line
from nerflow.models.folder import load_model
from nerflow.models.tagger import TaggerModel
from nerflow.tensors import pad, padding_mask, resolve_device
from nerflow.text.tokenization import TokenizedText, windows_many


def window_batches(
    toks: Sequence[TokenizedText],
    pad_id: int,
    batch_size: int,
    device: torch.device,
    features: Sequence[dict[str, torch.Tensor]] | None = None,
) -> Iterator[tuple[list[int], dict[str, Any]]]:
    """Length-sorted batches of windows: ``(window indices, model inputs)`` where the
    inputs are ``input_ids``, ``attention_mask``, ``label_mask`` and the feature tensors."""
    order = sorted(range(len(toks)), key=lambda i: len(toks[i]))
    for begin in range(0, len(order), batch_size):
        chunk = order[begin : begin + batch_size]
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
                padded = pad([features[i][name] for i in chunk], 0, width)
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
    :meth:`~nerflow.models.head.Head.token_predictions`), in the input order: for tag
    heads each token's label (None on unlabelled tokens), for the span head its
    ``(first token, last token, type, score)`` spans.

    ``features``: per window, its per-token feature tensors (models with a featurizer).
    """
    results: list[Any] = [None] * len(toks)
    for chunk, inputs in window_batches(toks, pad_id, batch_size, device, features):
        for i, decoded in zip(chunk, model.decode(**inputs), strict=True):
            results[i] = model.head.token_predictions(toks[i], decoded)
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
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    featurizer = getattr(model, "featurizer", None)
    owners: list[int] = []
    toks: list[TokenizedText] = []
    features: list[dict[str, torch.Tensor]] | None = [] if featurizer is not None else None
    texts = [record.text for record in records]
    per_record = featurizer.iter_char_features(texts) if featurizer else None
    for index, record_windows in enumerate(windows_many(texts, tokenizer, mode, max_len, stride)):
        char_features = next(per_record) if per_record is not None else None
        for tok in record_windows:
            owners.append(index)
            toks.append(tok)
            if features is not None and char_features is not None:
                features.append(featurizer.token_features(tok, char_features))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            window_results = decode_windows(model, toks, pad_id, batch_size, device, features)
    finally:
        model.train(was_training)
    per_record: list[tuple[list[TokenizedText], list]] = [([], []) for _ in records]
    for owner, tok, result in zip(owners, toks, window_results, strict=True):
        per_record[owner][0].append(tok)
        per_record[owner][1].append(result)
    out: list[Record] = []
    for record, (record_windows, results) in zip(records, per_record, strict=True):
        spans = model.head.record_spans(len(record.text), record_windows, results, scheme)
        out.append(Record(id=record.id, text=record.text, spans=spans))
    return out


CHUNK_SIZE = 2048
"""Records predicted together by :func:`stream_predictions` (bounds its memory)."""


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


def stream_predictions(
    predictors: Sequence[Predictor],
    records: Iterable[Record],
    batch_size: int = PREDICT_BATCH_SIZE,
    chunk_size: int = CHUNK_SIZE,
    min_votes: int | None = None,
) -> Iterator[Record]:
    """Predicted records in input order, ``chunk_size`` records in memory at a time.

    Several predictors form an ensemble: a span is kept when ``min_votes`` of them
    (default: a strict majority) predict it; when every member decodes flat, so does the
    vote (:func:`nerflow.inference.ensemble.vote`). Their labels must agree.
    """
    if not predictors:
        raise ValueError("no model to predict with")
    for predictor in predictors[1:]:
        if predictor.model.labels != predictors[0].model.labels:
            raise ValueError(
                f"ensemble members have different labels: {predictors[0].model.labels} "
                f"vs {predictor.model.labels}"
            )
    flat = all(predictor.model.head.flat for predictor in predictors)
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, chunk_size)):
        members = [predictor.predict(chunk, batch_size) for predictor in predictors]
        yield from members[0] if len(members) == 1 else vote(members, min_votes, flat)


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
