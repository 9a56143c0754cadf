"""What a head declares without torch: :class:`HeadSpec`.

A head is two files: its torch-free half here (name, own settings with their defaults and
descriptions, decoder) and its ``nn.Module`` in :mod:`nerflow.models` (scores, loss,
parameters), which the spec names. The workflow reads the specs when it parses the
Snakefile (the ``head`` choices and the head settings of an experiment,
:mod:`nerflow.config.experiment`); exported folders decode with the spec's decoder.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from nerflow.heads.decoder import Decoder


@dataclasses.dataclass(frozen=True)
class NoSettings:
    """The settings of a head that has none of its own."""


class HeadSpec:
    """A head's name, one-line summary, own settings (a frozen dataclass of its keys in an
    experiment block, written with :func:`nerflow.section.setting`), decoder class and the
    import path (``module:Class``) of its :class:`nerflow.models.head.Head`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Settings: ClassVar[type] = NoSettings
    decoder: ClassVar[type[Decoder]]
    head_class: ClassVar[str]

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls.Settings))
