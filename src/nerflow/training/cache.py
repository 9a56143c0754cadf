"""Tensor cache of a tokenised, labelled training set.

A cache is a :class:`TensorCache` (its ``meta`` a :class:`CacheMeta`), written by
:func:`save_cache` and read by :func:`load_cache` as a plain dict of lists, tensors, strings
and numbers (``torch.save``, ``torch.load(weights_only=True)``), format
:data:`CACHE_FORMAT`:

- ``input_ids``: one ``LongTensor [n]`` per sequence (no padding, specials included). A
  text longer than ``max_len`` tokens gives several sequences: the sliding windows that
  prediction uses (:func:`nerflow.text.tokenization.windows`, ``stride`` tokens shared, gold
  labels clipped at window edges), so no training text is cut unless ``truncate`` asks;
- ``labels``: one ``LongTensor [n]`` per record, label ids on labelled tokens and
  ``-100`` on special tokens and on tokens without a label;
- ``offsets``: one ``LongTensor [n, 2]`` per record, character ``[start, end)`` of each
  token in the original text (``(0, 0)`` for specials);
- ``ids``: the record id of each sequence;
- ``spans``: one ``LongTensor [k, 3]`` per record, ``(first token, last token, type
  index)`` of its gold spans (type index into :func:`nerflow.text.tagging.label_types` of the
  labels), nested and overlapping spans included: the targets of span heads;
- ``lost_spans``: ``{reason: count}`` of gold spans that the token labels cannot carry
  (see :mod:`nerflow.text.alignment`; a span is lost only when no window carries it whole;
  ``truncated`` counts spans cut by ``max_len`` when truncating);
- ``features``: ``{name: [tensor per sequence]}`` per-token feature tensors aligned with
  ``input_ids`` (each feature's tensors, zeros on specials; see
  :mod:`nerflow.features.featurizer`), empty without features;
- ``meta``: tokenizer fingerprint, labels, scheme, mode, max_len, stride (None when
  truncating), n_records, n_sequences, n_windowed (texts split into windows), n_truncated,
  ``features`` (the featurizer's description with its asset fingerprint, or None).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from nerflow.atomic import save_torch
from nerflow.data.records import Record
from nerflow.features.featurizer import Features, Featurizer, load_featurizer
from nerflow.tensors import IGNORE_INDEX
from nerflow.text.alignment import (
    lost_in_every_window,
    token_labels_from_spans,
    token_spans_from_spans,
)
from nerflow.text.lost import LOST_REASONS
from nerflow.text.tagging import label_types
from nerflow.text.tokenization import TokenizedText, windows
from nerflow.text.vocab import tokenizer_fingerprint

CACHE_FORMAT = 1


@dataclass(frozen=True)
class CacheMeta:
    """What a cache was built from and what it holds (see the module doc)."""

    tokenizer: str
    labels: list[str]
    scheme: str
    mode: str
    max_len: int
    stride: int | None
    n_records: int
    n_sequences: int
    n_windowed: int
    n_truncated: int
    features: dict[str, Any] | None
    format: int = CACHE_FORMAT


@dataclass(frozen=True)
class TensorCache:
    """A tokenised, labelled training set: per sequence (window) its token ids, label ids,
    offsets, record id, gold token spans and feature tensors (see the module doc)."""

    input_ids: list[torch.Tensor]
    labels: list[torch.Tensor]
    offsets: list[torch.Tensor]
    ids: list[Any]
    spans: list[torch.Tensor]
    features: dict[str, list[torch.Tensor]]
    lost_spans: dict[str, int]
    meta: CacheMeta

    def __len__(self) -> int:
        return len(self.input_ids)

    def to_dict(self) -> dict[str, Any]:
        """The file's layout: the fields in order, ``meta`` with ``format`` first."""
        meta = asdict(self.meta)
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "meta"}
        return {**data, "meta": {"format": meta.pop("format"), **meta}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "cache") -> TensorCache:
        """The cache of a file's dict; ``ValueError`` naming ``where`` and what it lacks
        (a cache written before a part was added: rebuild it)."""
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if name not in data]
        meta_names = [f.name for f in fields(CacheMeta)]
        missing += [f"meta.{name}" for name in meta_names if name not in data.get("meta", {})]
        if missing:
            raise ValueError(f"{where}: the cache lacks {', '.join(missing)}; rebuild it")
        meta = CacheMeta(**{name: data["meta"][name] for name in meta_names})
        return cls(**{name: data[name] for name in names if name != "meta"}, meta=meta)

    def take(self, n: int) -> TensorCache:
        """The first ``n`` sequences (meta kept)."""
        return replace(
            self,
            input_ids=self.input_ids[:n],
            labels=self.labels[:n],
            offsets=self.offsets[:n],
            ids=self.ids[:n],
            spans=self.spans[:n],
            features={name: rows[:n] for name, rows in self.features.items()},
        )


def build_cache(
    records: Sequence[Record],
    tokenizer: Any,
    mode: str,
    max_len: int,
    scheme: str,
    labels: Sequence[str],
    features: Features | Featurizer = None,
    feature_dir: str | Path | None = None,
    *,
    stride: int,
    truncate: bool = False,
    analyses: Mapping[str, Any] | str | Path | None = None,
) -> TensorCache:
    """Tokenise and label every record (see the module doc): texts longer than ``max_len``
    tokens become sliding windows sharing ``stride`` tokens (the experiment's ``stride``,
    as prediction will use), or, with ``truncate``, are cut at ``max_len``.

    ``features``: the experiment's ``features`` block (its assets are read from
    ``feature_dir``, see :func:`nerflow.features.featurizer.build_feature_assets`) or a ready
    :class:`~nerflow.features.featurizer.Featurizer`; None or a block enabling nothing: no features.
    Features are computed on each record's full text, then gathered per token.
    ``analyses``: a feature's analyses of the texts (the analysis stage's file, or a
    mapping; see :meth:`~nerflow.features.featurizer.Featurizer.use_analyses`).
    """
    featurizer = (
        features if isinstance(features, Featurizer) else load_featurizer(features, feature_dir)
    )
    char_features = None
    if featurizer is not None:
        if analyses is not None:
            featurizer.use_analyses(analyses)
        char_features = featurizer.iter_char_features(record.text for record in records)
    label2id = {label: i for i, label in enumerate(labels)}
    type_index = {t: i for i, t in enumerate(label_types(labels))}
    parts: dict[str, Any] = {"input_ids": [], "labels": [], "offsets": [], "ids": [], "spans": []}
    parts["features"] = {name: [] for name in (featurizer.tensor_names if featurizer else [])}
    lost: Counter[str] = Counter(dict.fromkeys(LOST_REASONS, 0))
    n_truncated = n_windowed = 0
    for record in records:
        toks = windows(record.text, tokenizer, mode, max_len, int(stride), truncate=truncate)
        n_truncated += int(truncate and toks[0].truncated)
        n_windowed += int(len(toks) > 1)
        record_features = next(char_features) if char_features is not None else None
        lost_per_window = []
        for tok in toks:
            token_labels, lost_spans = token_labels_from_spans(
                tok, record.spans, scheme, clip=not truncate
            )
            lost_per_window.append(lost_spans)
            _add_window(parts, tok, record, token_labels, label2id, type_index)
            if record_features is not None:
                assert featurizer is not None
                for name, array in featurizer.token_features(tok, record_features).items():
                    parts["features"][name].append(torch.from_numpy(array))
        lost.update(lost_in_every_window(lost_per_window).values())
    meta = CacheMeta(
        tokenizer=tokenizer_fingerprint(tokenizer),
        labels=list(labels),
        scheme=scheme,
        mode=mode,
        max_len=int(max_len),
        stride=None if truncate else int(stride),
        n_records=len(records),
        n_sequences=len(parts["ids"]),
        n_windowed=n_windowed,
        n_truncated=n_truncated,
        features=featurizer.describe() if featurizer is not None else None,
    )
    return TensorCache(**parts, lost_spans=dict(lost), meta=meta)


def _add_window(
    parts: dict[str, Any],
    tok: TokenizedText,
    record: Record,
    token_labels: Sequence[str | None],
    label2id: Mapping[str, int],
    type_index: Mapping[str, int],
) -> None:
    """Append one window's token ids, label ids, offsets, record id and gold token spans."""
    unknown = {tag for tag in token_labels if tag is not None and tag not in label2id}
    if unknown:
        raise ValueError(f"record {record.id!r}: tags {sorted(unknown)} not in the label list")
    ids = [IGNORE_INDEX if tag is None else label2id[tag] for tag in token_labels]
    parts["input_ids"].append(torch.tensor(tok.input_ids, dtype=torch.long))
    parts["labels"].append(torch.tensor(ids, dtype=torch.long))
    parts["offsets"].append(torch.tensor(tok.offsets, dtype=torch.long).reshape(-1, 2))
    parts["ids"].append(record.id)
    token_spans, _ = token_spans_from_spans(tok, record.spans)
    parts["spans"].append(
        torch.tensor(
            [(first, last, type_index[label]) for first, last, label in token_spans],
            dtype=torch.long,
        ).reshape(-1, 3)
    )


def save_cache(path: str | Path, cache: TensorCache) -> None:
    """Write a cache with ``torch.save`` (atomically, see :func:`nerflow.atomic.save_torch`)."""
    save_torch(cache.to_dict(), path)


def load_cache(path: str | Path) -> TensorCache:
    """Load a cache written by :func:`save_cache` (safe ``weights_only`` loading)."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("meta", {}).get("format") != CACHE_FORMAT:
        raise ValueError(f"{path}: not a nerflow cache of format {CACHE_FORMAT}")
    return TensorCache.from_dict(data, str(path))


def cache_features_fingerprint(cache: TensorCache) -> str | None:
    """Fingerprint of the feature assets a cache was built with (None: no features)."""
    described = cache.meta.features
    return described["fingerprint"] if described else None


def check_cache(
    cache: TensorCache,
    tokenizer: Any,
    labels: Sequence[str],
    scheme: str,
    featurizer: Featurizer | None | bool = False,
) -> None:
    """Raise ``ValueError`` if the cache was built with another tokenizer, labels or scheme
    (or, when ``featurizer`` is given -- None meaning "no features" -- other features)."""
    meta = cache.meta
    problems = []
    if featurizer is not False:
        wanted = featurizer.fingerprint() if isinstance(featurizer, Featurizer) else None
        if cache_features_fingerprint(cache) != wanted:
            problems.append("input features differ (rebuild the cache with the same assets)")
    if meta.tokenizer != tokenizer_fingerprint(tokenizer):
        problems.append("tokenizer fingerprint differs")
    if list(meta.labels) != list(labels):
        problems.append(_label_difference(list(meta.labels), list(labels)))
    if meta.scheme != scheme:
        problems.append(f"scheme differs ({meta.scheme} vs {scheme})")
    if problems:
        raise ValueError("cache does not match the experiment: " + "; ".join(problems))


def _label_difference(cached: list[str], wanted: list[str]) -> str:
    """What differs between the cache's labels and the experiment's, shortly."""

    def shown(names: list[str]) -> str:
        return ", ".join(names[:10]) + (f", ... ({len(names)})" if len(names) > 10 else "")

    only_cache = [label for label in cached if label not in wanted]
    only_wanted = [label for label in wanted if label not in cached]
    if not only_cache and not only_wanted:
        return f"labels in another order ({len(cached)} labels; rebuild the cache)"
    parts = [f"labels differ ({len(cached)} in the cache, {len(wanted)} wanted"]
    if only_wanted:
        parts.append(f"missing from the cache: {shown(only_wanted)}")
    if only_cache:
        parts.append(f"in the cache only: {shown(only_cache)}")
    return "; ".join(parts) + ")"
