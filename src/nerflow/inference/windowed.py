"""Prediction's text side, without torch: records -> windows -> (a model's decoding) ->
spans on the original text.

Every record is cut into windows of at most ``max_len`` tokens overlapping by ``stride``
(:func:`nerflow.text.tokenization.windows_many`; a text that fits is one window). A
model's input features are computed once per FULL text and gathered per window, so a
window's features equal those of the same characters in the whole text. A runner
(:data:`DecodeWindows`: PyTorch's in :mod:`nerflow.inference.predict`, onnxruntime's in
:mod:`nerflow.inference.onnx_predictor`) decodes all windows of all records, in
length-sorted batches (:func:`length_sorted_batches`), and the head's decoder
(:class:`nerflow.heads.decoder.Decoder`) turns each record's decoded windows into its
spans. Output records carry the source id and text unchanged: text is never rebuilt from
tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nerflow.data.records import Record
from nerflow.heads.decoder import Decoder
from nerflow.text.tokenization import TokenizedText, windows_many

DecodeWindows = Callable[[Sequence[TokenizedText], Sequence[dict[str, Any]] | None], list[Any]]
"""Every window's decoded predictions (the decoder's :meth:`~Decoder.token_predictions`),
in input order, from the windows and, for models with features, each window's feature
arrays."""


@dataclass(frozen=True)
class Windowing:
    """How a model reads text: its tokenizer, tokenisation mode, windows and scheme."""

    tokenizer: Any
    mode: str
    max_len: int
    stride: int
    scheme: str

    @property
    def pad_id(self) -> int:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return pad if pad is not None else 0


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices of ``lengths`` in batches of ``batch_size``, shortest first (little padding)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for begin in range(0, len(order), batch_size):
        yield order[begin : begin + batch_size]


def predict_windowed(
    records: Sequence[Record],
    windowing: Windowing,
    decoder: Decoder,
    decode_windows: DecodeWindows,
    featurizer: Any = None,
) -> list[Record]:
    """Spans of every record (one output per input, same id and text), decoded window by
    window by ``decode_windows`` and merged per record by ``decoder``."""
    owners: list[int] = []
    toks: list[TokenizedText] = []
    features: list[dict[str, Any]] | None = [] if featurizer is not None else None
    texts = [record.text for record in records]
    per_text = featurizer.iter_char_features(texts) if featurizer is not None else None
    all_windows = windows_many(
        texts, windowing.tokenizer, windowing.mode, windowing.max_len, windowing.stride
    )
    for index, record_windows in enumerate(all_windows):
        char_features = next(per_text) if per_text is not None else None
        for tok in record_windows:
            owners.append(index)
            toks.append(tok)
            if features is not None:
                features.append(featurizer.token_features(tok, char_features))
    results = decode_windows(toks, features)
    per_record: list[tuple[list[TokenizedText], list]] = [([], []) for _ in records]
    for owner, tok, result in zip(owners, toks, results, strict=True):
        per_record[owner][0].append(tok)
        per_record[owner][1].append(result)
    return [
        Record(
            id=record.id,
            text=record.text,
            spans=decoder.record_spans(len(record.text), tokens, decoded, windowing.scheme),
        )
        for record, (tokens, decoded) in zip(records, per_record, strict=True)
    ]
