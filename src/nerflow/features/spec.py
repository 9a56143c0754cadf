"""The ``features`` block of an experiment (:data:`nerflow.features.config.FeatureConfig`):
the checks beyond its types, what it enables, and the settings its assets depend on, all
derived from the registered features (:data:`nerflow.features.registry.FEATURES`)."""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import Draft202012Validator

from nerflow.features.config import FeatureConfig
from nerflow.features.registry import FEATURES
from nerflow.section import block_schema

ASSET_KEYS = tuple(key for feature in FEATURES for key in feature.asset_keys)
"""Settings the saved assets and feature tensors depend on (others only concern the model)."""
ADDED_FEATURES: dict[str, tuple[str, ...]] = {
    switch: keys for feature in FEATURES for switch, keys in feature.added.items()
}
"""Features added after models, caches and input keys were first saved, with their
settings: left out of the asset spec and the block's settings while switched off, so that
everything saved before keeps its fingerprint and key."""
CHAR_VECTOR_SOURCES = {
    name: vectors for feature in FEATURES for name, vectors in feature.char_vector_sources.items()
}
"""Packaged character vectors a BiLSTM may start from (``bilstm.char_vectors``), by name."""


def feature_spec(features: Any) -> Any:
    """The ``features`` block as a checked :data:`FeatureConfig` (a mapping is read with
    its defaults, None is every default). ``ValueError`` for an unknown key, a wrong type
    (:class:`nerflow.section.ConfigError`) or a value out of its bounds."""
    spec = FeatureConfig.coerce(features)
    for error in _validator().iter_errors(spec.to_dict()):
        where = ".".join(["features", *map(str, error.absolute_path)])
        raise ValueError(f"{where}: {error.message}")
    for feature in FEATURES:
        problems = feature.check(spec)
        if problems:
            raise ValueError(problems[0])
    return spec


@functools.cache
def _validator() -> Draft202012Validator:
    """The bounds of the block's settings (:func:`nerflow.section.block_schema`)."""
    return Draft202012Validator(block_schema(FeatureConfig))


def features_enabled(spec: Any) -> bool:
    """True when the block asks for any input feature."""
    return any(feature.switched_on(spec) for feature in FEATURES)


def analyses_used(features: Any) -> list[str]:
    """The per-split analysis stages the block's features read (their names)."""
    spec = FeatureConfig.coerce(features)
    return [
        feature.analysis
        for feature in FEATURES
        if feature.analysis is not None and feature.uses_analysis(spec)
    ]


def analysis_feature(name: str) -> Any:
    """The feature whose analysis stage is ``name``."""
    for feature in FEATURES:
        if feature.analysis == name:
            return feature
    raise ValueError(f"no feature has an analysis stage {name!r}")


def switched_off_settings(spec: Any) -> set[str]:
    """The settings of the :data:`ADDED_FEATURES` that ``spec`` leaves off."""
    return {key for name, keys in ADDED_FEATURES.items() if not getattr(spec, name) for key in keys}


def settings_of(spec: Any) -> dict[str, Any]:
    """Every setting of ``spec`` but those of the added features it leaves off."""
    hidden = switched_off_settings(spec)
    return {key: value for key, value in spec.to_dict().items() if key not in hidden}


def asset_spec(spec: Any) -> dict[str, Any]:
    """The settings of ``spec`` that its assets depend on (:data:`ASSET_KEYS`, but those of
    the added features it leaves off)."""
    hidden = switched_off_settings(spec)
    return {key: getattr(spec, key) for key in ASSET_KEYS if key not in hidden}
