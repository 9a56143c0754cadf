"""Prediction with an exported folder on onnxruntime, without torch: :class:`OnnxPredictor`.

``nerflow export`` (:mod:`nerflow.export.onnx`) writes the model's scoring part (emitter,
input-feature embeddings and, for the span head, its span scores) as ``model.onnx`` and
keeps everything else beside it: ``nerflow_head.json``, ``tokenizer.json``, the head's
files (the CRF's scores) and the feature assets, with ``nerflow_export.json`` saying what
the graph takes. The head's decoder (its spec's, :mod:`nerflow.heads`) reads the graph's
output. Windows, input features, decoding (constrained Viterbi, span cells, flat or
nested) and the restore on the original text are the package's own, shared with the
PyTorch path (:func:`nerflow.inference.windowed.predict_windowed`), so both give the same spans.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nerflow.data.records import Record
from nerflow.heads.decoder import Decoder
from nerflow.heads.registry import head_spec
from nerflow.inference.settings import PREDICT_BATCH_SIZE
from nerflow.inference.windowed import Windowing, length_sorted_batches, predict_windowed
from nerflow.models.meta import HEAD_FILE, ModelMeta, read_model_meta
from nerflow.text.tokenization import TokenizedText
from nerflow.text.tokenizer_file import TokenizerFile

EXPORT_FILE = "nerflow_export.json"
"""What an exported folder holds besides a model folder's files (its marker)."""
ONNX_FILE = "model.onnx"
EXPORT_FORMAT = 1
MASK_INPUTS = ("input_ids", "attention_mask", "labelled")
"""The graph's inputs besides the feature tensors: token ids, the attention mask and
which positions may carry a label (the span head's cells)."""


def is_exported(folder: str | Path) -> bool:
    """Whether ``folder`` was written by ``nerflow export``."""
    return (Path(folder) / EXPORT_FILE).is_file()


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / EXPORT_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path}: not an export manifest of format {EXPORT_FORMAT}")
    return manifest


def load_decoder(folder: Path, meta: ModelMeta) -> Decoder:
    """The decoder of the folder's head (its spec's, :mod:`nerflow.heads`), from the folder."""
    try:
        spec = head_spec(meta.head)
    except ValueError as error:
        raise ValueError(f"{folder / HEAD_FILE}: {error}") from None
    return spec.decoder.from_folder(folder, meta.labels, meta.scheme, meta.head_settings)


def pad_rows(rows: Sequence[Any], value: Any, width: int, dtype: Any = None) -> np.ndarray:
    """Rows of different lengths (lists or arrays, same trailing shape) padded with
    ``value`` to ``[len(rows), width, ...]``."""
    arrays = [np.asarray(row, dtype=dtype) for row in rows]
    first = arrays[0]
    out = np.full((len(arrays), width, *first.shape[1:]), value, dtype=first.dtype)
    for i, row in enumerate(arrays):
        out[i, : len(row)] = row
    return out


def window_feeds(
    toks: Sequence[TokenizedText],
    features: Sequence[dict[str, Any]] | None,
    pad_id: int,
    width: int,
) -> dict[str, np.ndarray]:
    """The graph's inputs for windows ``toks`` (and their feature arrays), padded to
    ``width``."""
    feeds = {
        "input_ids": pad_rows([tok.input_ids for tok in toks], pad_id, width, np.int64),
        "attention_mask": pad_rows([[1] * len(tok) for tok in toks], 0, width, np.int64),
        "labelled": pad_rows([tok.labelled for tok in toks], False, width, bool),
    }
    for name in features[0] if features else ():
        feeds[name] = pad_rows([np.asarray(f[name]) for f in features], 0, width)
    return feeds


def session_options(threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # shape-inference notes on dynamic axes are not errors
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return options


@dataclass
class OnnxPredictor:
    """An exported folder loaded: its onnxruntime session, windows, decoder and features."""

    session: Any
    windowing: Windowing
    decoder: Decoder
    featurizer: Any
    meta: ModelMeta
    pad_to: int | None = None
    """The one width the graph takes (``nerflow_export.json``), None: any."""

    @classmethod
    def load(
        cls,
        folder: str | Path,
        max_len: int | None = None,
        stride: int | None = None,
        threads: int | None = None,
    ) -> OnnxPredictor:
        """Load an exported folder; ``max_len``/``stride`` default to the saved ones."""
        import onnxruntime as ort

        directory = Path(folder)
        manifest = read_manifest(directory)
        meta = read_model_meta(directory)
        session = ort.InferenceSession(
            str(directory / manifest["onnx"]),
            sess_options=session_options(threads),
            providers=["CPUExecutionProvider"],
        )
        featurizer = None
        if meta.features:
            from nerflow.features.featurizer import Featurizer

            featurizer = Featurizer.load(directory)
        length = int(max_len if max_len is not None else meta.max_len)
        saved = stride if stride is not None else meta.stride
        windowing = Windowing(
            TokenizerFile(directory),
            meta.tokenization,
            length,
            int(saved if saved is not None else length // 4),
            meta.scheme,
        )
        decoder = load_decoder(directory, meta)
        pad_to = manifest.get("pad_to")
        if pad_to is not None and windowing.max_len > pad_to:
            raise ValueError(f"{directory}: the graph takes windows of {pad_to} tokens at most")
        return cls(session, windowing, decoder, featurizer, meta, pad_to)

    @property
    def labels(self) -> list[str]:
        return self.meta.labels

    @property
    def flat(self) -> bool:
        return self.decoder.flat

    @property
    def input_names(self) -> list[str]:
        return [node.name for node in self.session.get_inputs()]

    def scores(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The graph's output for one batch of inputs (those the graph takes)."""
        wanted = set(self.input_names)
        return self.session.run(None, {k: v for k, v in feeds.items() if k in wanted})[0]

    def batch_feeds(
        self,
        toks: Sequence[TokenizedText],
        features: Sequence[dict[str, Any]] | None,
    ) -> dict[str, np.ndarray]:
        """The graph's inputs for windows ``toks`` (padded to the longest, or to the one
        width the graph takes)."""
        width = self.pad_to or max(len(tok) for tok in toks)
        return window_feeds(toks, features, self.windowing.pad_id, width)

    def decode_windows(
        self,
        toks: Sequence[TokenizedText],
        features: Sequence[dict[str, Any]] | None,
        batch_size: int = PREDICT_BATCH_SIZE,
    ) -> list[Any]:
        """Every window's decoded predictions, in input order."""
        results: list[Any] = [None] * len(toks)
        for chunk in length_sorted_batches([len(tok) for tok in toks], batch_size):
            batch = [toks[i] for i in chunk]
            feeds = self.batch_feeds(batch, [features[i] for i in chunk] if features else None)
            decoded = self.decoder.decode(self.scores(feeds), feeds["labelled"])
            for i, tok, row in zip(chunk, batch, decoded, strict=True):
                results[i] = self.decoder.token_predictions(tok, row)
        return results

    def predict(
        self, records: Sequence[Record], batch_size: int = PREDICT_BATCH_SIZE
    ) -> list[Record]:
        def decode(toks: Sequence[TokenizedText], features: Sequence[dict] | None) -> list[Any]:
            return self.decode_windows(toks, features, batch_size)

        return predict_windowed(records, self.windowing, self.decoder, decode, self.featurizer)
