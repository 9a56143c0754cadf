"""Experiment configuration: an experiment's settings and their defaults.

Each block is a :class:`~nerflow.section.Section` whose field defaults are the only place a
default is written: the workflow fills its config from them (the JSON schema holds types
and bounds, no defaults; ``tests/test_config.py`` keeps the two in step). The blocks that
stages before training read live apart, so that editing a training default re-stales only
training and what follows it: the scratch sizes and pretraining runs in
:mod:`nerflow.config.scratch`, the ``features`` block in :mod:`nerflow.features.config`.

Light on purpose (no torch import): the Snakefile reads it at parse time.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

from nerflow.config.choices import Amp, Device
from nerflow.config.scratch import ScratchConfig
from nerflow.features.config import FeatureConfig
from nerflow.features.spec import CHAR_VECTOR_SOURCES
from nerflow.section import Section, setting
from nerflow.text.tagging import Scheme
from nerflow.text.tokenization import Tokenization

Head = Literal["softmax", "crf", "span"]
SelectMetric = Literal["micro_f1", "macro_f1", "clue_macro_f1"]

HEADS: tuple[str, ...] = get_args(Head)
SELECT_METRICS: tuple[str, ...] = get_args(SelectMetric)


# --------------------------------------------------------------------------- blocks


@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
    """Fine-tuning of an experiment."""

    PATH = "experiments.NAME.train"

    epochs: int = setting(3, minimum=1)
    batch_size: int = setting(32, minimum=1)
    lr: float = setting(3.0e-5, exclusive_minimum=0)
    head_lr: float = setting(3.0e-3, exclusive_minimum=0)
    warmup_ratio: float = setting(0.1, minimum=0, maximum=1)
    weight_decay: float = setting(0.01, minimum=0)
    grad_clip: float = setting(1.0, minimum=0)
    seed: int = 42
    patience: int = setting(2, minimum=1)
    select_metric: SelectMetric = "micro_f1"
    amp: Amp = "auto"
    device: Device = "auto"
    eval_every_steps: int = setting(0, minimum=0)
    max_minutes: float = setting(0, minimum=0)
    ema_decay: float = setting(
        0,
        minimum=0,
        exclusive_maximum=1,
        description="evaluate and keep an exponential moving average of the weights (0 = off)",
    )
    fgm_epsilon: float = setting(
        0,
        minimum=0,
        description="FGM adversarial training on the token embeddings, step size (0 = off)",
    )


@dataclasses.dataclass(frozen=True)
class BiLSTMConfig(Section):
    """Size of the character BiLSTM (``encoder: bilstm``). ``hidden`` is per direction;
    ``embedding_dropout`` (None: ``dropout``) applies to the concatenated inputs,
    ``dropout`` to the LSTM outputs and between layers; ``token_dropout`` is the training
    share of characters replaced by the unknown id (and what the features say of them).
    ``char_vectors`` starts the character embeddings from packaged vectors that a feature
    offers (:data:`nerflow.features.spec.CHAR_VECTOR_SOURCES`; their width is
    ``embedding_dim``)."""

    PATH = "experiments.NAME.bilstm"

    embedding_dim: int = setting(128, minimum=1)
    hidden: int = setting(256, minimum=1)
    layers: int = setting(1, minimum=1)
    dropout: float = setting(0.5, minimum=0, maximum=1)
    embedding_dropout: float | None = setting(
        None,
        minimum=0,
        maximum=1,
        description="dropout on the concatenated inputs (null = dropout)",
    )
    token_dropout: float = setting(
        0.0,
        minimum=0,
        maximum=1,
        description="training-time probability of replacing a character by the unknown id",
    )
    char_vectors: str | None = setting(
        None,
        enum=(*CHAR_VECTOR_SOURCES, None),
        description="packaged character vectors the embeddings start from (a feature's)",
    )


@dataclasses.dataclass(frozen=True)
class ExperimentConfig(Section):
    """One experiment: encoder, head, windows and its blocks.

    ``encoder``: a hub id, a ``save_pretrained`` folder, ``scratch``, ``bilstm`` or
    ``pretrained:NAME``. ``stride``: tokens shared by consecutive windows of ``max_len``.
    ``span_decoding`` (span head): ``flat`` keeps the best non-overlapping spans, ``nested``
    every span, ``auto`` flat when train is flat (:func:`nerflow.data.spans.resolve_span_decoding`).
    ``scheme`` and ``feature_dir`` (the folder of the feature assets, None: the tokenizer's)
    are set by the workflow (:data:`nerflow.config.check.WORKFLOW_KEYS`), not in its config.
    """

    encoder: str
    head: Head = setting(
        "crf", description="tag heads (softmax, crf) or a GlobalPointer span head (span)"
    )
    tokenization: Tokenization = "char"
    max_len: int = setting(128, minimum=8)
    stride: int = setting(32, minimum=0)
    scheme: Scheme = "BIOS"
    span_head_size: int = setting(
        64, minimum=2, multiple_of=2, description="query/key size per entity type of the span head"
    )
    span_decoding: Literal["auto", "flat", "nested"] = setting(
        "auto",
        description="span head: best non-overlapping spans (flat), all (nested), "
        "or flat when train is flat (auto)",
    )
    scratch: ScratchConfig = ScratchConfig()
    bilstm: BiLSTMConfig = BiLSTMConfig()
    features: FeatureConfig = FeatureConfig()
    train: TrainConfig = TrainConfig()
    feature_dir: str | None = None
