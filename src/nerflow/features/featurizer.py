"""Richer character inputs for encoders trained from scratch: the :class:`Featurizer`.

Without pretrained weights a character tagger sees each character through one randomly
initialised embedding; cheap, well-known inputs give it word-level evidence. Each input
feature is a plug-in (:mod:`nerflow.features.feature`; the registered ones are
:data:`nerflow.features.registry.FEATURES`, each module says what it adds); the
``features`` block that enables them is checked by :mod:`nerflow.features.spec`. The
featurizer holds one instance of every registered feature (those switched off hold nothing)
and joins them.

Features are computed per CHARACTER of the full original text (:meth:`Featurizer.char_features`)
and gathered per token by the token's first character (:meth:`Featurizer.token_features`);
special tokens get zeros (the padding id / no bits). A sliding window therefore sees
exactly the features the full text gives its characters: the bigram at a window edge
still looks at the neighbour outside the window.

Assets: :func:`build_feature_assets` writes ``nerflow_features.json`` (the feature spec)
and each feature's asset files into a folder (the experiment's tokenizer folder);
``save_model`` copies them into the model folder, so prediction needs nothing else.

What each adds (CLUENER dev micro F1, char BiLSTM-CRF 128/256, 8 epochs or 8 minutes on
one CPU thread, ``bench/ablation.py``): characters only 0.675; + bigrams 0.707; + lexicon
bits 0.707; + both 0.723; + both + lexicon words 0.723 in the same time, ahead at every
epoch (0.723 after 7 epochs vs 0.721). ``bigram_min_freq: 1`` (117k instead of 44k
bigrams) is slower and worse (0.708).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nerflow.features.config import FeatureConfig
from nerflow.features.feature import InputFeature
from nerflow.features.registry import FEATURES
from nerflow.features.spec import asset_spec, feature_spec, features_enabled

Features = FeatureConfig | Mapping[str, Any] | None
"""A ``features`` block as the entry points take it: the block, a mapping read with its
defaults (:func:`nerflow.features.spec.feature_spec`) or None (no features)."""

SPEC_FILE = "nerflow_features.json"
CONTEXT_BATCH = 512
"""Texts whose per-text contexts (LAC's analyses) are computed together."""


class Featurizer:
    """Computes the per-token feature tensors of one feature spec from its assets.

    ``features``: the ``features`` block (:data:`Features`), checked and kept as
    :attr:`spec`. Every registered feature gets an instance (:meth:`part`), empty until
    :meth:`build` or :meth:`load` fills it; ``assets`` gives some theirs by feature name
    (the instance's second argument: a bigram vocabulary, a lexicon, a gazetteer), as
    tests do. Tensor names (the keyword arguments models receive) are the registered
    features' :attr:`~nerflow.features.feature.InputFeature.tensors`.
    """

    def __init__(self, features: Features, **assets: Any) -> None:
        self.spec = spec = feature_spec(features)
        unknown = sorted(set(assets) - {feature.name for feature in FEATURES})
        if unknown:
            raise ValueError(f"assets of unknown features {unknown}")
        self.parts: list[InputFeature] = [
            feature(spec, assets[feature.name]) if feature.name in assets else feature(spec)
            for feature in FEATURES
        ]
        self._fingerprint: str | None = None

    def part(self, name: str) -> Any:
        """The instance of the feature ``name``."""
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"no feature {name!r}")

    @property
    def tensor_names(self) -> list[str]:
        return [
            feature.tensors[switch]
            for feature in self.parts
            for switch in feature.switched_on(self.spec)
        ]

    def sizes(self) -> dict[str, int]:
        """The embedding sizes of every registered feature (zeros for those off)."""
        return {key: value for part in self.parts for key, value in part.sizes().items()}

    def group_lrs(self) -> dict[str, float]:
        """``{module name: learning rate}`` of feature modules trained at their own rate."""
        return {
            module: float(getattr(self.spec, setting))
            for part in self.parts
            if part.on
            for module, setting in part.own_lr.items()
        }

    # ------------------------------------------------------------------ features

    def use_analyses(self, analyses: Mapping[str, Any] | str | Path) -> None:
        """Take precomputed analyses (the analysis stage's file, or a mapping by text key)
        instead of analysing their texts again."""
        if not any([part.use_analyses(analyses) for part in self.parts]):
            raise ValueError("analyses given to a featurizer without features that read them")

    def char_features(
        self, text: str, contexts: Sequence[Any] | None = None
    ) -> dict[str, np.ndarray]:
        """Per-character features of a FULL text: ``{name: array [len(text), ...]}``
        (``contexts``: each feature's context of ``text``, computed when not given)."""
        out: dict[str, np.ndarray] = {}
        for index, part in enumerate(self.parts):
            if part.on:
                out.update(part.char_features(text, contexts[index] if contexts else None))
        return out

    def iter_char_features(self, texts: Iterable[str]) -> Iterator[dict[str, np.ndarray]]:
        """:meth:`char_features` of each text in order, contexts taken in batches."""
        iterator = iter(texts)
        while chunk := list(itertools.islice(iterator, CONTEXT_BATCH)):
            per_part = [
                part.contexts(chunk) if part.on else [None] * len(chunk) for part in self.parts
            ]
            for text, contexts in zip(chunk, zip(*per_part, strict=True), strict=True):
                yield self.char_features(text, contexts)

    def token_features(
        self, tok: Any, char_feats: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Gather per-character features onto the tokens of ``tok`` (a ``TokenizedText``).

        A token takes the features of its first character; special tokens get zeros.
        """
        special = tok.special or [offset == (0, 0) for offset in tok.offsets]
        index = np.array(
            [
                0 if is_special else int(start)
                for (start, _), is_special in zip(tok.offsets, special, strict=True)
            ],
            dtype=np.int64,
        )
        keep = ~np.array(special, dtype=bool)
        out: dict[str, np.ndarray] = {}
        for name, values in char_feats.items():
            if values.shape[0] == 0:
                out[name] = np.zeros((len(tok.offsets), *values.shape[1:]), dtype=values.dtype)
                continue
            gathered = values[np.minimum(index, values.shape[0] - 1)]
            mask = keep.reshape(-1, *([1] * (gathered.ndim - 1)))
            out[name] = np.where(mask, gathered, np.zeros((), dtype=values.dtype))
        return out

    def encode(self, text: str, tok: Any) -> dict[str, np.ndarray]:
        """``token_features(tok, char_features(text))`` (``tok`` tokenises ``text``)."""
        return self.token_features(tok, self.char_features(text))

    # ------------------------------------------------------------------ io

    def fingerprint(self) -> str:
        """sha256 of the asset spec and of every feature's assets."""
        if self._fingerprint is None:
            digest = hashlib.sha256(json.dumps(asset_spec(self.spec), sort_keys=True).encode())
            for part in self.parts:
                part.update_fingerprint(digest)
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """JSON-able summary stored in cache and model metadata."""
        summary = {"spec": asset_spec(self.spec), "fingerprint": self.fingerprint()}
        for part in self.parts:
            summary.update(part.describe())
        return summary

    def build(self, train_texts: Iterable[str], train_records: Sequence[Any] | None) -> None:
        """Every feature's assets from the TRAIN texts (and annotated records)."""
        texts = list(train_texts)
        for part in self.parts:
            part.build(texts, train_records)
        self._fingerprint = None

    def save(self, out_dir: str | Path) -> Path:
        """Write the spec and every feature's assets into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for part in self.parts:
            part.save(out)
        spec = {**self.spec.to_dict(), "fingerprint": self.fingerprint()}
        text = json.dumps(spec, indent=2, sort_keys=True) + "\n"
        (out / SPEC_FILE).write_text(text, encoding="utf-8")
        return out

    @classmethod
    def load(cls, directory: str | Path, features: Features = None) -> Featurizer:
        """Load the assets saved in ``directory``.

        With ``features``, the saved spec must agree with it on every setting the assets
        depend on (``ValueError`` otherwise: rebuild the assets); its other settings (the
        model's ``*_dim`` sizes) are taken from ``features``.
        """
        folder = Path(directory)
        spec_path = folder / SPEC_FILE
        if not spec_path.exists():
            raise FileNotFoundError(
                f"{folder}: no {SPEC_FILE}; build the assets with build_feature_assets"
            )
        saved = json.loads(spec_path.read_text(encoding="utf-8"))
        saved.pop("fingerprint", None)
        spec = feature_spec(saved)
        if features is not None:
            wanted = feature_spec(features)
            if asset_spec(wanted) != asset_spec(spec):
                raise ValueError(
                    f"{folder}: feature assets were built for {asset_spec(spec)}, "
                    f"the experiment wants {asset_spec(wanted)}"
                )
            spec = wanted
        featurizer = cls(spec)
        for part in featurizer.parts:
            part.load(folder)
        return featurizer


def build_featurizer(
    train_texts: Iterable[str],
    features: Features,
    train_records: Sequence[Any] | None = None,
) -> Featurizer:
    """A featurizer whose assets come from ``train_texts`` (train ONLY) and, for features
    that need them (the gazetteer), the annotated ``train_records``
    (:class:`nerflow.data.records.Record`, in file order)."""
    featurizer = Featurizer(features)
    featurizer.build(train_texts, train_records)
    return featurizer


def build_feature_assets(
    train_texts: Iterable[str],
    features: Features,
    out_dir: str | Path,
    train_records: Sequence[Any] | None = None,
) -> Featurizer | None:
    """Build the feature assets of an experiment from the TRAIN texts (and, for the
    gazetteer, the train records) into ``out_dir``.

    The workflow calls it on the experiment's tokenizer folder. No-op (returns None)
    when the ``features`` block enables nothing.
    """
    spec = feature_spec(features)
    if not features_enabled(spec):
        return None
    featurizer = build_featurizer(train_texts, spec, train_records)
    featurizer.save(out_dir)
    return featurizer


def load_featurizer(features: Features, feature_dir: str | Path | None) -> Featurizer | None:
    """The featurizer of a ``features`` block from ``feature_dir`` (None when no features)."""
    spec = feature_spec(features)
    if not features_enabled(spec):
        return None
    if feature_dir is None or not str(feature_dir):
        raise ValueError("features are enabled but no feature_dir holds their assets")
    return Featurizer.load(feature_dir, spec)
