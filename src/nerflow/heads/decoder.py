"""Decoders: a head's scores -> each window's predictions -> a text's character spans.

What a head does after its scores, in numpy and without torch, so that the same code
decodes a PyTorch model (the heads of :mod:`nerflow.models.head` hand their scores over)
and an exported one on onnxruntime (:mod:`nerflow.inference.onnx_predictor`, which must
not import torch). Each head's own decoder lives in its torch-free file of this package
(:class:`~nerflow.heads.spec.HeadSpec.decoder`); :meth:`Decoder.from_folder` rebuilds it
from a model folder alone (an exported one: no torch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nerflow.data.records import Span
from nerflow.text.alignment import char_tags_from_token_labels, merge_window_tags, restore_spans
from nerflow.text.tagging import label_types, tags_to_spans
from nerflow.text.tokenization import TokenizedText


def left_align(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices gathering the True positions of each row of ``mask [batch, seq]`` to the
    left (order kept), and the mask of the result ``[batch, n]`` (``n``: the largest row
    count)."""
    lengths = mask.sum(axis=1)
    width = int(lengths.max()) if mask.size else 0
    index = np.argsort(~mask, axis=1, kind="stable")[:, :width]
    return index, np.arange(width)[None, :] < lengths[:, None]


class Decoder:
    """Interface: a head's scores of a batch of windows -> per window its predictions ->
    per text its sorted character spans."""

    flat: bool = True
    """Whether no two spans of one text overlap."""

    def __init__(self, labels: Sequence[str], scheme: str) -> None:
        self.labels = list(labels)
        self.scheme = scheme
        self.types = label_types(self.labels)

    @classmethod
    def from_folder(
        cls, folder: Path, labels: Sequence[str], scheme: str, settings: Mapping[str, Any]
    ) -> Decoder:
        """The decoder of a saved model (its labels, scheme, head settings and files)."""
        return cls(labels, scheme)

    def decode(self, scores: np.ndarray, label_mask: np.ndarray) -> list[list[Any]]:
        """Per window, the predictions on its labelled positions (``label_mask``)."""
        raise NotImplementedError

    def token_predictions(self, tok: TokenizedText, decoded: list[Any]) -> Any:
        """One window's :meth:`decode` row, on the window's tokens."""
        raise NotImplementedError

    def record_spans(
        self,
        n_chars: int,
        windows: Sequence[TokenizedText],
        predictions: Sequence[Any],
        scheme: str,
    ) -> list[Span]:
        """The character spans of a text of ``n_chars`` from the :meth:`token_predictions`
        of its ``windows`` (tags read in ``scheme``), sorted."""
        raise NotImplementedError


class TagDecoder(Decoder):
    """One tag per labelled token; scores are emissions ``[batch, seq, n_labels]``."""

    def best_paths(self, emissions: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Label ids ``[batch, n]`` for left-aligned ``emissions [batch, n, C]``."""
        raise NotImplementedError

    def decode(self, scores: np.ndarray, label_mask: np.ndarray) -> list[list[int]]:
        lengths = label_mask.sum(axis=1).tolist()
        if scores.shape[0] == 0 or max(lengths, default=0) == 0:
            return [[] for _ in lengths]
        index, mask = left_align(label_mask)
        emissions = np.take_along_axis(scores.astype(np.float32), index[:, :, None], axis=1)
        best = self.best_paths(emissions, mask)
        return [row[:n] for row, n in zip(best.tolist(), lengths, strict=True)]

    def token_predictions(self, tok: TokenizedText, decoded: list[int]) -> list[str | None]:
        """Each token's label (None on unlabelled tokens)."""
        labels: list[str | None] = [None] * len(tok)
        for position, label_id in zip(tok.label_positions(), decoded, strict=True):
            labels[position] = self.labels[label_id]
        return labels

    def record_spans(
        self,
        n_chars: int,
        windows: Sequence[TokenizedText],
        predictions: Sequence[list[str | None]],
        scheme: str,
    ) -> list[Span]:
        """Each window's token labels become character tags, each character takes those of
        its most central window (:func:`nerflow.text.alignment.merge_window_tags`) and the
        merged tags are decoded. A text in one window needs no merging: its spans are the
        window's restored spans (:func:`nerflow.text.alignment.restore_spans`, equal by
        construction and cheaper)."""
        if len(windows) == 1:
            return sorted(restore_spans(windows[0], predictions[0], scheme))
        char_tags = [
            char_tags_from_token_labels(tok, labels, scheme)
            for tok, labels in zip(windows, predictions, strict=True)
        ]
        return sorted(tags_to_spans(merge_window_tags(n_chars, windows, char_tags), scheme))
