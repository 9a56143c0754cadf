"""The settings of a neural classifier (read at parse time: no torch here)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from nerflow.config.experiment import BiLSTMConfig, ExperimentConfig, TrainConfig
from nerflow.config.scratch import ScratchConfig
from nerflow.features.config import FeatureConfig
from nerflow.section import Section, setting
from nerflow.text.tokenization import Tokenization

Pooling = Literal["mean", "cls", "max"]
POOLINGS: tuple[str, ...] = ("mean", "cls", "max")


@dataclasses.dataclass(frozen=True)
class ClassifierTrainConfig(TrainConfig):
    """The ``train`` block of a neural classifier: the tagger's, selected by dev accuracy
    or macro F1, with optional class weights (``balanced``: inversely proportional to the
    class counts of train)."""

    PATH = "classification.experiments.NAME.train"

    select_metric: Literal["accuracy", "macro_f1"] = "accuracy"  # type: ignore[assignment]
    class_weights: Literal["none", "balanced"] = setting(
        "none", description="weights of the loss per class (balanced: for imbalanced sets)"
    )


@dataclasses.dataclass(frozen=True)
class NeuralSettings(Section):
    """An experiment of ``kind: neural``: the emitter (``encoder``, its ``scratch`` or
    ``bilstm`` sizes and ``features``, as in an NER experiment), how its token scores are
    pooled, the windows and the training."""

    PATH = "classification.experiments.NAME"

    encoder: str = setting("bilstm", description="bilstm, scratch, a hub id or a folder")
    pooling: Pooling = setting("mean", description="mean, cls or max over the tokens")
    tokenization: Tokenization = "char"
    max_len: int = setting(256, minimum=8, description="tokens per window, specials included")
    stride: int = setting(64, minimum=0, description="tokens shared by consecutive windows")
    scratch: ScratchConfig = ScratchConfig()
    bilstm: BiLSTMConfig = BiLSTMConfig()
    features: FeatureConfig = FeatureConfig()
    train: ClassifierTrainConfig = ClassifierTrainConfig()

    def experiment(self) -> ExperimentConfig:
        """The NER experiment whose emitter this classifier uses (its head plays no part:
        the classifier pools the emitter's outputs)."""
        return ExperimentConfig.coerce(
            {
                "encoder": self.encoder,
                "tokenization": self.tokenization,
                "max_len": self.max_len,
                "stride": self.stride,
                "scratch": self.scratch.to_dict(),
                "bilstm": self.bilstm.to_dict(),
                "features": self.features.to_dict(),
            }
        )
