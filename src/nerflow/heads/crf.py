"""The CRF head's torch-free half: its decoder (the best tag sequence the scheme allows,
constrained Viterbi), the file of its scores and its spec. The head itself:
:mod:`nerflow.models.crf`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nerflow.heads.constraints import allowed_transitions
from nerflow.heads.decoder import TagDecoder
from nerflow.heads.spec import HeadSpec
from nerflow.heads.viterbi import viterbi

CRF_FILE = "crf.safetensors"
"""The CRF head's parameters in a model folder (pytorch-crf's names)."""
CRF_SCORES = ("start_transitions", "transitions", "end_transitions")


class ViterbiDecoder(TagDecoder):
    """The best sequence of tags the scheme allows, under a CRF's start, transition and
    end scores (:meth:`set_scores`; forbidden moves score ``-inf``)."""

    def __init__(self, labels: Sequence[str], scheme: str) -> None:
        super().__init__(labels, scheme)
        self.allowed = allowed_transitions(self.labels, scheme)
        self.scores: tuple[np.ndarray, ...] | None = None

    @classmethod
    def from_folder(
        cls, folder: Path, labels: Sequence[str], scheme: str, settings: Mapping[str, Any]
    ) -> ViterbiDecoder:
        from safetensors.numpy import load_file

        weights = load_file(str(folder / CRF_FILE))
        decoder = cls(labels, scheme)
        decoder.set_scores(*(weights[name] for name in CRF_SCORES))
        return decoder

    def set_scores(self, start: np.ndarray, transitions: np.ndarray, end: np.ndarray) -> None:
        """The CRF's (unconstrained) scores; the scheme's forbidden moves become ``-inf``."""
        self.scores = tuple(
            np.where(allowed, np.asarray(value, dtype=np.float32), -np.inf).astype(np.float32)
            for allowed, value in zip(self.allowed, (start, transitions, end), strict=True)
        )

    def best_paths(self, emissions: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.scores is None:
            raise ValueError("the CRF decoder has no scores: set_scores first")
        return viterbi(emissions, mask, *self.scores)


class CRFSpec(HeadSpec):
    name = "crf"
    summary = "the best tag sequence the scheme allows (linear-chain CRF, constrained Viterbi)"
    decoder = ViterbiDecoder
    head_class = "nerflow.models.crf:CRFHead"
