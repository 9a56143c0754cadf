"""Streaming prediction over loaded models, without torch: :func:`stream_predictions`
cuts an iterable of records into chunks and predicts chunk by chunk, so memory stays flat
however long the input; with several models it votes per chunk
(:func:`nerflow.inference.ensemble.vote`). Any :class:`SpanPredictor` takes part: a PyTorch
model folder (:class:`nerflow.inference.predict.Predictor`) or an exported one
(:class:`nerflow.inference.onnx_predictor.OnnxPredictor`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from nerflow.data.records import Record
from nerflow.inference.ensemble import vote
from nerflow.inference.settings import PREDICT_BATCH_SIZE

CHUNK_SIZE = 2048
"""Records predicted together by :func:`stream_predictions` (bounds its memory)."""


class SpanPredictor(Protocol):
    """A loaded model that predicts records: its labels, whether its spans never
    overlap, and :meth:`predict` (one output record per input, same id and text)."""

    @property
    def labels(self) -> list[str]: ...

    @property
    def flat(self) -> bool: ...

    def predict(
        self, records: Sequence[Record], batch_size: int = PREDICT_BATCH_SIZE
    ) -> list[Record]: ...


def stream_predictions(
    predictors: Sequence[SpanPredictor],
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
        if predictor.labels != predictors[0].labels:
            raise ValueError(
                f"ensemble members have different labels: {predictors[0].labels} "
                f"vs {predictor.labels}"
            )
    flat = all(predictor.flat for predictor in predictors)
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, chunk_size)):
        members = [predictor.predict(chunk, batch_size) for predictor in predictors]
        yield from members[0] if len(members) == 1 else vote(members, min_votes, flat)
