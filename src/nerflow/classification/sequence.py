"""The classifier of a BERT-family encoder with ``cls`` pooling: a transformers
``AutoModelForSequenceClassification`` model ([CLS] through the encoder's pooler, then the
classifier). Its folder is a plain transformers folder (classes as ``id2label``), so
``AutoModelForSequenceClassification`` and ``pipeline("text-classification")`` load it;
``nerflow predict`` reads long texts in windows, the pipeline truncates them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from nerflow.config.experiment import ExperimentConfig
from nerflow.models.scratch_bert import scratch_bert_config
from nerflow.models.tagger import param_groups
from nerflow.text.vocab import check_encoder_source, encoder_error


class SequenceClassifier(nn.Module):
    """A ``*ForSequenceClassification`` model with the interface of
    :class:`~nerflow.classification.neural.PooledClassifier`."""

    kind: ClassVar[str] = "sequence"
    pooling = "cls"
    featurizer = None

    def __init__(self, model: nn.Module, labels: Sequence[str]) -> None:
        super().__init__()
        self.model, self.labels = model, list(labels)

    @classmethod
    def create(
        cls, exp: ExperimentConfig, labels: Sequence[str], tokenizer: Any
    ) -> SequenceClassifier:
        """A fresh classifier: a scratch BERT of the ``scratch`` sizes, or the pretrained
        encoder of a hub id or folder with a new classifier layer."""
        from transformers import AutoModelForSequenceClassification

        names = {
            "id2label": dict(enumerate(labels)),
            "label2id": {x: i for i, x in enumerate(labels)},
        }
        if exp.encoder == "scratch":
            config = scratch_bert_config(exp.scratch, tokenizer, int(exp.max_len), **names)
            return cls(AutoModelForSequenceClassification.from_config(config), labels)
        check_encoder_source(exp.encoder, model=True)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                exp.encoder, ignore_mismatched_sizes=True, **names
            )
        except OSError as error:
            raise encoder_error(exp.encoder, "model", error) from error
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        return cls(model, labels)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> torch.Tensor:
        if features:
            raise ValueError(f"a sequence classifier takes no input features ({sorted(features)})")
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def param_groups(self, lr: float, head_lr: float, weight_decay: float) -> list[dict]:
        """The classifier layer at ``head_lr``, the encoder and its pooler at ``lr``."""
        head = list(self.model.classifier.parameters())
        return param_groups(self, head, lr, head_lr, weight_decay)

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(str(folder))

    @classmethod
    def load(cls, folder: Path) -> SequenceClassifier:
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(folder))
        labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
        return cls(model, labels)
