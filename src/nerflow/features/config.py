"""The ``features`` block of an experiment: the settings every registered feature declares
(:attr:`~nerflow.features.feature.InputFeature.Settings`), in registry order, as one
:class:`~nerflow.section.Section`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, get_type_hints

from nerflow.features.registry import FEATURES
from nerflow.section import Section


def _fields() -> Iterator[tuple[str, Any, Any]]:
    owner: dict[str, str] = {}
    for feature in FEATURES:
        hints = get_type_hints(feature.Settings)
        for field in dataclasses.fields(feature.Settings):
            if field.name in owner:
                raise TypeError(
                    f"features {owner[field.name]} and {feature.name} both declare "
                    f"the setting {field.name!r}"
                )
            owner[field.name] = feature.name
            yield (
                field.name,
                hints[field.name],
                dataclasses.field(default=field.default, metadata=field.metadata),
            )


FeatureConfig = dataclasses.make_dataclass(
    "FeatureConfig",
    list(_fields()),
    bases=(Section,),
    frozen=True,
    namespace={
        "PATH": "experiments.NAME.features",
        "__doc__": "Extra character inputs of from-scratch encoders: every registered "
        "feature's settings (its module says what it adds); ``*_dim`` are model sizes.",
        "__module__": __name__,
    },
)
