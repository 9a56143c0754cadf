"""Inputs that experiments share: a tokenizer folder and a tensor cache of train, each
named by a key made of exactly the settings it depends on, so experiments that agree on
them (vote members that differ only in their seed) build them once.

The workflow keeps them in ``results/inputs/<key>/``: ``tokenizer/`` or ``train.pt``,
beside ``settings.json``, the settings the key was made of. The data they are built from
(the train split, the label set) is the same for every experiment and not part of a key.

Light on purpose (no torch import): the Snakefile reads it at parse time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from nerflow.config.choices import from_scratch
from nerflow.config.experiment import ExperimentConfig
from nerflow.features.config import FeatureConfig
from nerflow.features.spec import features_enabled, settings_of

KEY_LENGTH = 10
"""Hex digits of a key (of the sha256 of its settings)."""


def input_key(settings: Mapping[str, Any]) -> str:
    """The key of a shared input: the first :data:`KEY_LENGTH` hex digits of the sha256
    of ``settings`` as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def _enabled_features(features: FeatureConfig | Mapping[str, Any] | None) -> dict | None:
    """The whole ``features`` block when it enables any feature, else None (a block
    enabling nothing adds no file and no tensor, whatever its other values); the settings
    of features added later are left out while off (:func:`nerflow.features.spec.settings_of`),
    so the keys of inputs built before stay the same."""
    spec = FeatureConfig.coerce(features)
    return settings_of(spec) if features_enabled(spec) else None


def tokenizer_settings(
    encoder: str, features: FeatureConfig | Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What the tokenizer folder of an experiment holds, from its encoder source (a hub
    id, a model folder, or a from-scratch encoder name) and its ``features`` block.

    Every from-scratch encoder (``scratch``, ``bilstm``) gets the same character
    vocabulary of train, so their ``encoder`` is ``scratch``; their feature assets are
    built from the whole block (the saved spec holds every key). Other encoders' folders
    are a copy of their own tokenizer: features add nothing to them."""
    scratch = from_scratch(encoder)
    return {
        "encoder": "scratch" if scratch else encoder,
        "features": _enabled_features(features) if scratch else None,
    }


def cache_settings(
    tokenizer_key: str, experiment: ExperimentConfig | Mapping[str, Any]
) -> dict[str, Any]:
    """What the tensor cache of an experiment's train split depends on besides the data:
    its tokenizer folder (by key), tokenisation, windows (``max_len``, ``stride``), the
    tagging scheme and the input features."""
    exp = ExperimentConfig.coerce(experiment)
    return {
        "tokenizer": tokenizer_key,
        "tokenization": exp.tokenization,
        "max_len": exp.max_len,
        "stride": exp.stride,
        "scheme": exp.scheme,
        "features": _enabled_features(exp.features),
    }
