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
from nerflow.section import Section
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

    epochs: int = 3
    batch_size: int = 32
    lr: float = 3.0e-5
    head_lr: float = 3.0e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 42
    patience: int = 2
    select_metric: SelectMetric = "micro_f1"
    amp: Amp = "auto"
    device: Device = "auto"
    eval_every_steps: int = 0
    max_minutes: float = 0
    ema_decay: float = 0
    fgm_epsilon: float = 0


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

    embedding_dim: int = 128
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.5
    embedding_dropout: float | None = None
    token_dropout: float = 0.0
    char_vectors: str | None = None


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
    head: Head = "crf"
    tokenization: Tokenization = "char"
    max_len: int = 128
    stride: int = 32
    scheme: Scheme = "BIOS"
    span_head_size: int = 64
    span_decoding: Literal["auto", "flat", "nested"] = "auto"
    scratch: ScratchConfig = ScratchConfig()
    bilstm: BiLSTMConfig = BiLSTMConfig()
    features: FeatureConfig = FeatureConfig()
    train: TrainConfig = TrainConfig()
    feature_dir: str | None = None
