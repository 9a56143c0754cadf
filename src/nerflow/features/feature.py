"""The input-feature plug-in contract: what one feature file declares and implements.

An input feature gives a from-scratch encoder more than the character itself: per
character of the FULL original text, a numpy array (bigram ids, lexicon bits, ...): no
torch, so that an exported model computes its features on onnxruntime's side; gathered per
token by the :class:`~nerflow.features.featurizer.Featurizer` and embedded by
:class:`~nerflow.features.embeddings.FeatureInputs` next to the character embedding. A
feature is one file with one :class:`InputFeature` subclass and one line in
:data:`nerflow.features.registry.FEATURES`; nothing else in the package names it. The
subclass declares:

- :attr:`~InputFeature.Settings`: a frozen dataclass of its keys in the ``features`` block
  with their defaults (the block is all features' settings, in registry order);
- :attr:`~InputFeature.tensors`: its switches (boolean keys of its settings), each with the
  name of the tensor it adds; :attr:`~InputFeature.asset_keys`, the settings its assets and
  tensors depend on (the other ones size the model); :attr:`~InputFeature.added`, the
  switches added after models were first saved, whose settings stay out of fingerprints
  and keys while off (so that what was saved before keeps them);
- :attr:`~InputFeature.size_keys`: the sizes its embedding is built from, saved in model
  folders (a folder saved before the feature existed lacks them: 0, off);

and implements, on an instance that holds its assets (built from train, saved to and
loaded from a feature folder): :meth:`~InputFeature.build`, :meth:`~InputFeature.save`,
:meth:`~InputFeature.load`, :meth:`~InputFeature.char_features`,
:meth:`~InputFeature.update_fingerprint`, :meth:`~InputFeature.describe` and
:meth:`~InputFeature.sizes`, and, from sizes alone, the ``nn.Module`` parts
(:meth:`~InputFeature.modules`) and how they embed its tensors
(:meth:`~InputFeature.embed`). Optional hooks: extra setting checks, a per-split analysis
stage, batched per-text contexts, token dropout, an own learning rate, packaged starting
weights and packaged character vectors.

Feature files import torch inside their functions (the embeddings only): the workflow
reads the ``features`` block's keys and defaults when it parses the Snakefile, which must
stay fast.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import hashlib

    import numpy as np
    import torch
    from torch import nn


Modules = Mapping[str, "nn.Module"]
"""A feature's built parts by name (:meth:`InputFeature.modules`)."""
Tensors = Mapping[str, "torch.Tensor"]
"""Feature tensors by name."""
Sizes = Mapping[str, int]
"""Embedding sizes by name (:attr:`InputFeature.size_keys`)."""


class InputFeature:
    """Base of the input-feature plug-ins; one instance per feature and featurizer, holding
    the feature's assets (none while the feature is off)."""

    name: ClassVar[str]
    """The feature's name (its module's and registry entry's)."""
    Settings: ClassVar[type]
    """Frozen dataclass: the feature's keys in the ``features`` block and their defaults."""
    tensors: ClassVar[dict[str, str]]
    """``{switch: tensor name}``: each on/off key and the tensor it adds, in model order."""
    asset_keys: ClassVar[tuple[str, ...]] = ()
    """The settings the saved assets and the tensors depend on."""
    added: ClassVar[dict[str, tuple[str, ...]]] = {}
    """``{switch: its settings}`` of switches added after models were first saved."""
    size_keys: ClassVar[tuple[str, ...]] = ()
    """The sizes :meth:`modules` is built from (0: off), as model folders save them."""
    inputs: ClassVar[dict[str, str]] = {}
    """``{module name: tensor name}``: the tensor each part of :meth:`modules` embeds."""
    analysis: ClassVar[str | None] = None
    """The name of the per-split analysis stage its tensors read (None: none)."""
    own_lr: ClassVar[dict[str, str]] = {}
    """``{module name: setting}``: modules trained at their own learning rate."""
    char_vector_sources: ClassVar[dict[str, Callable[[Sequence[str]], Any]]] = {}
    """Packaged character vectors a BiLSTM may start from: ``{name: vectors(tokens)}``."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    # ------------------------------------------------------------------ settings

    @classmethod
    def setting_names(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls.Settings)]

    @classmethod
    def switched_on(cls, spec: Any) -> list[str]:
        """The feature's switches that ``spec`` (the ``features`` block) turns on."""
        return [switch for switch in cls.tensors if getattr(spec, switch)]

    @classmethod
    def check(cls, spec: Any) -> list[str]:
        """Problems of the feature's settings beyond their types, one line each."""
        return []

    @classmethod
    def uses_analysis(cls, spec: Any) -> bool:
        """Whether ``spec`` needs the feature's per-split analysis stage."""
        return False

    @classmethod
    def analyse_file(cls, in_path: Path, out_path: Path, threads: int | None) -> int:
        """Run the analysis stage on a records file; the number of texts analysed."""
        raise NotImplementedError(f"feature {cls.name} has no analysis stage")

    @property
    def on(self) -> bool:
        return bool(self.switched_on(self.spec))

    # ------------------------------------------------------------------ assets

    def build(self, train_texts: Sequence[str], train_records: Sequence[Any] | None) -> None:
        """Build the assets from the train texts (and annotated records) while on."""

    def save(self, folder: Path) -> None:
        """Write the assets into ``folder`` (and remove stale ones of the feature)."""

    def load(self, folder: Path) -> None:
        """Read the assets that :meth:`save` wrote."""

    def update_fingerprint(self, digest: hashlib._Hash) -> None:
        """Add the assets to a featurizer's fingerprint."""

    def describe(self) -> dict[str, Any]:
        """The feature's entries of the featurizer's JSON summary."""
        return {}

    # ------------------------------------------------------------------ tensors

    def use_analyses(self, analyses: Any) -> bool:
        """Take a precomputed analysis (the analysis stage's file, or a mapping); False
        when the feature reads none."""
        return False

    def contexts(self, texts: Sequence[str]) -> Sequence[Any]:
        """Per text, what :meth:`char_features` needs beside it, computed for a batch."""
        return [None] * len(texts)

    def char_features(self, text: str, context: Any = None) -> dict[str, np.ndarray]:
        """``{tensor name: array [len(text), ...]}`` for the switches that are on (numpy:
        an exported model computes its features without torch)."""
        raise NotImplementedError

    def sizes(self) -> dict[str, int]:
        """The values of :attr:`size_keys` for the assets held (zeros while off)."""
        return dict.fromkeys(self.size_keys, 0)

    # ------------------------------------------------------------------ the model

    @classmethod
    def modules(cls, sizes: Mapping[str, int]) -> list[tuple[str, nn.Module]]:
        """``(attribute name, module)`` of each embedding part that ``sizes`` switches on,
        in the order they are built (their parameters are drawn in that order)."""
        return []

    @classmethod
    def output_dim(cls, sizes: Mapping[str, int]) -> int:
        """The width the feature adds to an emitter's input."""
        return 0

    @classmethod
    def embed(cls, modules: Modules, tensors: Tensors, sizes: Sizes) -> list[torch.Tensor]:
        """The embeddings ``[batch, seq, ...]`` of the feature's tensors, to concatenate."""
        return []

    @classmethod
    def drop_tokens(
        cls, tensors: dict[str, torch.Tensor], dropped: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The tensors when the tokens ``dropped`` (a bool mask) are replaced by the
        unknown token in training (token dropout); unchanged by default."""
        return tensors

    @classmethod
    def start(cls, modules: Mapping[str, nn.Module]) -> list[str]:
        """Start freshly built modules from packaged weights; one line per module started."""
        return []
