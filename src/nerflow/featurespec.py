"""The ``features`` block of an experiment: its keys, defaults and checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FEATURE_DEFAULTS: dict[str, Any] = {
    "bigram": False,
    "lexicon": False,
    "bigram_min_freq": 2,
    "lexicon_max_len": 8,
    "lexicon_path": None,
    "bigram_dim": 64,
    "lexicon_dim": 32,
    "lexicon_words": False,
    "lexicon_word_min_freq": 1,
    "lexicon_word_k": 4,
    "lexicon_word_dim": 50,
    "gazetteer": False,
    "gazetteer_folds": 5,
    "gazetteer_min_len": 2,
    "gazetteer_max_len": 16,
    "gazetteer_dim": 32,
}
"""Keys of an experiment's ``features`` block and their defaults (``*_dim``: the sizes of
the model's bigram embedding, used twice per character, lexicon projection and lexicon
word embedding)."""
ASSET_KEYS = (
    "bigram",
    "lexicon",
    "bigram_min_freq",
    "lexicon_max_len",
    "lexicon_words",
    "lexicon_word_min_freq",
    "lexicon_word_k",
    "gazetteer",
    "gazetteer_folds",
    "gazetteer_min_len",
    "gazetteer_max_len",
)
"""Settings the saved assets and feature tensors depend on (``lexicon_path`` only says
where the words came from, ``*_dim`` only concern the model)."""


def normalize_features(features: Mapping[str, Any] | None) -> dict[str, Any]:
    """An experiment's ``features`` block with defaults filled in (unknown keys rejected)."""
    given = dict(features or {})
    unknown = sorted(set(given) - set(FEATURE_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown feature settings {unknown}; known: {sorted(FEATURE_DEFAULTS)}")
    spec = {**FEATURE_DEFAULTS, **given}
    for key in ("bigram", "lexicon", "lexicon_words", "gazetteer"):
        spec[key] = bool(spec[key])
    numbers = [k for k in FEATURE_DEFAULTS if k.endswith(("_dim", "_freq", "_len", "_k", "_folds"))]
    for key in numbers:
        spec[key] = int(spec[key])
        if spec[key] < 1:
            raise ValueError(f"features.{key} must be >= 1, got {spec[key]}")
    if spec["gazetteer_folds"] < 2:
        raise ValueError("features.gazetteer_folds must be >= 2 (train texts match other folds)")
    if spec["gazetteer_min_len"] > spec["gazetteer_max_len"]:
        raise ValueError("features.gazetteer_min_len must not exceed gazetteer_max_len")
    return spec


def features_enabled(features: Mapping[str, Any] | None) -> bool:
    """True when the ``features`` block asks for any input feature."""
    spec = normalize_features(features)
    return spec["bigram"] or spec["lexicon"] or spec["lexicon_words"] or spec["gazetteer"]


def asset_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a normalised spec that its assets depend on (:data:`ASSET_KEYS`)."""
    return {key: spec[key] for key in ASSET_KEYS}
