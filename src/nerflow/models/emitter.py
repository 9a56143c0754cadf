"""The emitter interface: the part of a tagger that maps token ids to per-token scores.

Emitters: :class:`~nerflow.models.transformer.TransformerEmitter` (a Hugging Face
``*ForTokenClassification`` model) and :class:`~nerflow.models.bilstm.BiLSTMEmitter`;
:data:`nerflow.models.registry.EMITTERS` holds them by :attr:`Emitter.kind`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import nn


class Emitter(nn.Module):
    """Interface of an emission model: token ids -> per-token output scores (one per
    output of the head: tags, or a span head's query/key components).

    Subclasses set :attr:`kind` (the name stored in ``nerflow_head.json``), implement
    :meth:`forward`, :meth:`head_parameters`, :meth:`save` and :meth:`load`, and are
    registered in :data:`nerflow.models.registry.EMITTERS` so that
    :func:`nerflow.models.folder.load_model` can rebuild them. Emitters that use input
    features (:mod:`nerflow.features.featurizer`) take them as keyword tensors (``bigram_ids``,
    ``lexicon_bits``, ...) after ``attention_mask``.
    """

    plain_load: ClassVar[tuple[str, str] | None] = None
    """For emitters that are no transformers model: the card's ``library_name`` and what a
    plain transformers load gives (whatever the head)."""
    kind: ClassVar[str] = ""
    needed_files: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    """Files :meth:`load` needs in a model folder: ``(what to call them, any of these names)``."""

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> torch.Tensor:
        """Output scores ``[batch, seq, n_outputs]``."""
        raise NotImplementedError

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters that get the head learning rate (the freshly initialised output layer)."""
        raise NotImplementedError

    def save(self, out_dir: Path) -> None:
        """Write the emitter into ``out_dir`` (which exists)."""
        raise NotImplementedError

    @classmethod
    def load(cls, model_dir: Path) -> Emitter:
        """Rebuild an emitter saved with :meth:`save`."""
        raise NotImplementedError

    def refuse_features(self, features: dict[str, torch.Tensor]) -> None:
        """Raise ``ValueError`` when an emitter without feature inputs is given some."""
        if features:
            raise ValueError(f"{self.kind} emitter without feature inputs got {sorted(features)}")
