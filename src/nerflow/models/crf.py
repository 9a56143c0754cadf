"""CRF head: a linear-chain CRF over the labelled positions, held to the tagging scheme.

pytorch-crf's :class:`torchcrf.CRF` gives the parameters (start, transition and end
scores), their initialisation and the training likelihood. The moves the scheme forbids
(:func:`~nerflow.heads.constraints.allowed_transitions`) get a large finite penalty in
the likelihood (:data:`TRAIN_PENALTY`) and ``-inf`` at Viterbi decoding
(:class:`~nerflow.heads.crf.ViterbiDecoder`), so decoding never yields a sequence
that :func:`nerflow.text.tagging.is_valid_sequence` rejects. The parameters are saved in
``crf.safetensors`` under pytorch-crf's names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor
from torch.func import functional_call
from torchcrf import CRF

from nerflow.heads.constraints import allowed_transitions
from nerflow.heads.crf import CRF_FILE, CRF_SCORES, CRFSpec
from nerflow.models.head import GoldSpans, TagHead
from nerflow.models.weights import load_weights, save_weights
from nerflow.nn.positions import gather_positions, left_align
from nerflow.tensors import IGNORE_INDEX

TRAIN_PENALTY = -1.0e4
"""Score added to forbidden CRF transitions in the training likelihood (finite: no NaNs)."""


class CRFHead(TagHead, CRF):
    """Tags of the labelled positions as one sequence: the constrained CRF likelihood in
    training, the best valid sequence (constrained Viterbi) at decoding."""

    spec = CRFSpec
    files: ClassVar[tuple[str, ...]] = (CRF_FILE,)
    plain_load: ClassVar[tuple[str, str]] = (
        "transformers",
        "the emission scores only: the argmax per token, without the CRF transitions "
        "(`crf.safetensors`) and without the tagging scheme's constraints. A CRF's emissions "
        "are not trained to be read alone, so the pipeline's entities are not usable (on "
        "CLUENER dev a 2x256 scratch BERT-CRF gave micro F1 0.04 through the pipeline, 0.62 "
        "through nerflow; `bench/pipeline_parity.py` measures a folder). Use `nerflow predict`.",
    )

    def __init__(self, labels: Sequence[str], scheme: str) -> None:
        super().__init__(labels, scheme, num_tags=len(labels), batch_first=True)
        start, trans, end = map(torch.from_numpy, allowed_transitions(self.labels, scheme))
        self.register_buffer("allowed_start", start, persistent=False)
        self.register_buffer("allowed_trans", trans, persistent=False)
        self.register_buffer("allowed_end", end, persistent=False)

    def constrained_scores(self, penalty: float) -> dict[str, torch.Tensor]:
        """The CRF's scores (by parameter name) with ``penalty`` on forbidden starts,
        transitions and ends."""
        zero = torch.zeros((), device=self.transitions.device)
        return {
            "start_transitions": self.start_transitions.float()
            + torch.where(self.allowed_start, zero, penalty),
            "transitions": self.transitions.float()
            + torch.where(self.allowed_trans, zero, penalty),
            "end_transitions": self.end_transitions.float()
            + torch.where(self.allowed_end, zero, penalty),
        }

    def loss(self, scores: Tensor, labels: Tensor, spans: GoldSpans = None) -> Tensor:
        """Mean negative log-likelihood over sequences with at least one labelled position."""
        label_mask = labels != IGNORE_INDEX
        keep = label_mask.any(dim=1)
        if not bool(keep.any()):
            return scores.float().sum() * 0.0
        index, mask = left_align(label_mask[keep])
        emissions = gather_positions(scores[keep].float(), index)
        tags = labels[keep].gather(1, index).masked_fill(~mask, 0)
        with torch.autocast(device_type=scores.device.type, enabled=False):
            params = self.constrained_scores(TRAIN_PENALTY)
            llh = functional_call(self, params, (emissions, tags, mask), {"reduction": "none"})
        return -llh.mean()

    def decode(self, scores: Tensor, label_mask: Tensor) -> list[list[int]]:
        """The best valid paths (constrained Viterbi) under the CRF's current scores."""
        self.decoder.set_scores(
            *(getattr(self, name).detach().float().cpu().numpy() for name in CRF_SCORES)
        )
        return super().decode(scores, label_mask)

    def save(self, out_dir: Path) -> None:
        save_weights(self.state_dict(), out_dir / CRF_FILE)

    def load(self, model_dir: Path) -> None:
        self.load_state_dict(load_weights(model_dir / CRF_FILE))
