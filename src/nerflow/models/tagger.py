"""The tagger: an emitter (token ids -> per-token outputs) under a head (scores, loss,
decoding), over a fixed label list and tagging scheme."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nerflow.features.embeddings import FeatureInputs
from nerflow.features.featurizer import Featurizer
from nerflow.models.emitter import Emitter
from nerflow.models.head import Head
from nerflow.models.registry import head_class
from nerflow.nn.optim import decay_groups
from nerflow.tensors import IGNORE_INDEX
from nerflow.text.tagging import check_scheme


class TaggerModel(nn.Module):
    """Emission model + head (any of :data:`nerflow.models.registry.HEADS`, by name) over
    a fixed label list.

    ``forward(input_ids, attention_mask, labels=None, *, spans=None, **features) -> (loss
    or None, scores)``; labels use ``-100`` for positions without a label; ``features``
    are the per-token feature tensors of :attr:`featurizer` (none without features).
    ``decode`` returns the head's predictions per sequence. ``featurizer`` (a
    :class:`nerflow.features.featurizer.Featurizer` or None) is a plain attribute: it computes those
    tensors for new texts and is saved with the model. ``head_settings``: the head's own
    (:attr:`~nerflow.models.head.Head.setting_keys`).
    """

    def __init__(
        self,
        emitter: Emitter,
        labels: Sequence[str],
        scheme: str,
        head: str | Head,
        featurizer: Featurizer | None = None,
        head_settings: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not labels or labels[0] != "O":
            raise ValueError("labels must start with 'O'")
        self.featurizer = featurizer
        self.emitter = emitter
        self.labels = list(labels)
        self.scheme = check_scheme(scheme)
        # registered under its name: the CRF's weights keep their "crf.*" state_dict keys
        if not isinstance(head, Head):
            head = head_class(head).create(self.labels, self.scheme, head_settings or {})
        self.add_module(head.name, head)
        self._head_name = head.name

    @property
    def head(self) -> Head:
        """The head object (its :attr:`~Head.name` is the ``head`` of the experiment)."""
        return self.get_submodule(self._head_name)

    @property
    def needs_spans(self) -> bool:
        """Whether training batches must carry the gold token spans (span head)."""
        return self.head.needs_spans

    # ------------------------------------------------------------------ parameters

    def head_parameters(self) -> list[nn.Parameter]:
        """The emitter's output layer and the head's own parameters (the CRF's): trained
        with the head learning rate."""
        return [*self.emitter.head_parameters(), *self.head.parameters()]

    def own_lr_parameters(self) -> dict[str, list[nn.Parameter]]:
        """The feature parts with their own learning rate (:func:`own_lr_parameters`)."""
        return own_lr_parameters(self)

    def param_groups(
        self,
        lr: float,
        head_lr: float,
        weight_decay: float,
        own_lrs: dict[str, float] | None = None,
    ) -> list[dict[str, Any]]:
        """AdamW parameter groups (:func:`param_groups`)."""
        return param_groups(self, self.head_parameters(), lr, head_lr, weight_decay, own_lrs)

    # ------------------------------------------------------------------ forward / decode

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        spans: Sequence[torch.Tensor] | None = None,
        **features: torch.Tensor,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """The head's scores and, given ``labels``, the mean loss.

        Tag heads: emission logits ``[batch, seq, C]``. Span head: span scores ``[batch,
        n_types, seq, seq]``; training needs ``labels`` (only their ``-100`` mask is used)
        and the gold ``spans`` (one ``[k, 3]`` tensor of ``(first token, last token, type
        index)`` per sequence).
        """
        outputs = self.emitter(input_ids, attention_mask, **features)
        labelled = attention_mask.bool() if labels is None else labels != IGNORE_INDEX
        scores = self.head.scores(outputs, labelled)
        if labels is None:
            return None, scores
        return self.head.loss(scores, labels, spans), scores

    @torch.no_grad()
    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        label_mask: torch.Tensor,
        **features: torch.Tensor,
    ) -> list[list[Any]]:
        """The head's predictions on the labelled positions (``label_mask`` True), per
        sequence: label ids in order for tag heads (CRF: constrained Viterbi, always a
        valid sequence of the scheme), ``(first token, last token, type, score)`` spans
        for the span head."""
        outputs = self.emitter(input_ids, attention_mask, **features)
        label_mask = label_mask.to(device=outputs.device, dtype=torch.bool)
        return self.head.decode(self.head.scores(outputs, label_mask), label_mask)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters."""
    return sum(p.numel() for p in model.parameters())


def own_lr_parameters(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The parameters of the feature parts trained at their own learning rate (those
    that start from packaged weights), by part name."""
    found: dict[str, list[nn.Parameter]] = {}
    for module in model.modules():
        if isinstance(module, FeatureInputs):
            found.update(module.own_lr_parameters())
    return found


def param_groups(
    model: nn.Module,
    head_parameters: Iterable[nn.Parameter],
    lr: float,
    head_lr: float,
    weight_decay: float,
    own_lrs: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """AdamW parameter groups of ``model``: ``head_parameters`` at ``head_lr``, each
    feature part with its own learning rate at its own (``own_lrs`` by part name, default
    ``lr``), the rest (``encoder``) at ``lr``; no decay on biases, norms and other
    one-dimensional parameters (CRF start/end scores included)."""
    head_ids = {id(p) for p in head_parameters}
    own_parts = own_lr_parameters(model)
    own = {id(p): name for name, params in own_parts.items() for p in params}
    groups: dict[str, list[tuple[str, nn.Parameter]]] = {"encoder": [], "head": []}
    groups.update({name: [] for name in own_parts})
    for name, param in model.named_parameters():
        if param.requires_grad:
            group = "head" if id(param) in head_ids else "encoder"
            groups[own.get(id(param), group)].append((name, param))
    rates = {"encoder": lr, "head": head_lr, **(own_lrs or {})}
    return [
        param_group
        for name, params in groups.items()
        for param_group in decay_groups(params, rates.get(name, lr), weight_decay, name)
    ]
