"""Embeddings of the input features (:mod:`nerflow.features.featurizer`) that emitters take in:
each registered feature's modules, built from its sizes and concatenated in registry order."""

from __future__ import annotations

import torch
from torch import nn

from nerflow.features.featurizer import Featurizer
from nerflow.features.registry import FEATURES

FEATURE_SIZE_KEYS = tuple(key for feature in FEATURES for key in feature.size_keys)
"""The sizes of :class:`FeatureInputs` (its constructor's arguments), as model folders save
them; a size a folder lacks (saved before its feature existed) is 0: off."""


class FeatureInputs(nn.Module):
    """Embeddings of the input features: ``[batch, seq, output_dim]``.

    Each feature builds its parts from its sizes
    (:meth:`~nerflow.features.feature.InputFeature.modules`; sizes of 0 switch it off) and
    embeds its tensors with them; the parts are attributes named by the features, so that
    saved weights keep their names.
    """

    def __init__(self, **sizes: int) -> None:
        super().__init__()
        unknown = sorted(set(sizes) - set(FEATURE_SIZE_KEYS))
        if unknown:
            raise ValueError(f"unknown feature sizes {unknown}; known: {list(FEATURE_SIZE_KEYS)}")
        self.sizes = {key: int(sizes.get(key, 0)) for key in FEATURE_SIZE_KEYS}
        # each feature's parts by name, looked up once (forward runs every batch)
        self.parts: dict[str, dict[str, nn.Module]] = {}
        for feature in FEATURES:
            self.parts[feature.name] = dict(feature.modules(self.sizes))
            for name, module in self.parts[feature.name].items():
                self.add_module(name, module)

    @classmethod
    def for_featurizer(cls, featurizer: Featurizer | None) -> FeatureInputs | None:
        """The inputs module of a featurizer (None when it has no features)."""
        if featurizer is None or not featurizer.tensor_names:
            return None
        return cls(**featurizer.sizes())

    def modules_of(self, feature: type) -> dict[str, nn.Module]:
        return self.parts[feature.name]

    @property
    def names(self) -> list[str]:
        """The feature tensors :meth:`forward` takes."""
        return [
            feature.inputs[name]
            for feature in FEATURES
            for name in self.parts[feature.name]
            if name in feature.inputs
        ]

    @property
    def output_dim(self) -> int:
        return sum(feature.output_dim(self.sizes) for feature in FEATURES)

    def own_lr_parameters(self) -> dict[str, list[nn.Parameter]]:
        """``{module name: parameters}`` of the parts trained at their own learning rate."""
        return {
            name: list(self.parts[feature.name][name].parameters())
            for feature in FEATURES
            for name in feature.own_lr
            if name in self.parts[feature.name]
        }

    def start(self) -> list[str]:
        """Start the parts that have packaged weights from them; one line each."""
        return [line for feature in FEATURES for line in feature.start(self.modules_of(feature))]

    def forward(self, **features: torch.Tensor) -> torch.Tensor:
        unexpected = sorted(set(features) - set(self.names))
        missing = sorted(set(self.names) - set(features))
        if unexpected or missing:
            raise ValueError(
                f"feature tensors: missing {missing}, unexpected {unexpected} (the model "
                f"uses {self.names}; pass the featurizer's tensors to forward/decode)"
            )
        parts: list[torch.Tensor] = []
        for feature in FEATURES:
            modules = self.modules_of(feature)
            if modules:
                parts.extend(feature.embed(modules, features, self.sizes))
        return torch.cat(parts, dim=-1)


def drop_tokens(
    features: dict[str, torch.Tensor], dropped: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The feature tensors when token dropout replaces the tokens ``dropped`` by the
    unknown token (each feature says what becomes of its tensors)."""
    for feature in FEATURES:
        features = feature.drop_tokens(features, dropped)
    return features


def feature_sizes(featurizer: Featurizer | None) -> dict[str, int]:
    """:class:`FeatureInputs` sizes of a featurizer (all 0 without one)."""
    if featurizer is None:
        return dict.fromkeys(FEATURE_SIZE_KEYS, 0)
    return featurizer.sizes()
