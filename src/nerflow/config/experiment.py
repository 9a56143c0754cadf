"""Experiment configuration: an experiment's settings and their defaults.

Each block is a :class:`~nerflow.section.Section` whose field defaults are the only place a
default is written: the workflow fills its config from them (the JSON schema holds types
and bounds, no defaults; ``tests/test_config.py`` keeps the two in step). The blocks that
stages before training read live apart, so that editing a training default re-stales only
training and what follows it: the scratch sizes and pretraining runs in
:mod:`nerflow.config.scratch`, the ``features`` block in :mod:`nerflow.features.config`.
The ``head`` choices and each head's own settings come from the registered heads' specs
(:data:`nerflow.heads.registry.HEAD_SPECS`).

Light on purpose (no torch import): the Snakefile reads it at parse time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_type_hints

from nerflow.config.choices import Amp, Device
from nerflow.config.scratch import ScratchConfig
from nerflow.features.config import FeatureConfig
from nerflow.features.spec import CHAR_VECTOR_SOURCES
from nerflow.heads.registry import DEFAULT_HEAD, HEAD_SPECS
from nerflow.section import Section, setting
from nerflow.text.tagging import Scheme
from nerflow.text.tokenization import Tokenization

SelectMetric = Literal["micro_f1", "macro_f1", "clue_macro_f1"]

HEADS: tuple[str, ...] = tuple(HEAD_SPECS)
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
class _Experiment(Section):
    """One experiment: encoder, head, windows and its blocks.

    ``encoder``: a hub id, a ``save_pretrained`` folder, ``scratch``, ``bilstm`` or
    ``pretrained:NAME``. ``stride``: tokens shared by consecutive windows of ``max_len``.
    Each head's own settings (:attr:`nerflow.heads.spec.HeadSpec.Settings`) follow
    ``scheme``. ``scheme`` and ``feature_dir`` (the folder of the feature assets, None: the
    tokenizer's) are set by the workflow (:data:`nerflow.config.check.WORKFLOW_KEYS`), not
    in its config.
    """

    encoder: str
    head: str = setting(
        DEFAULT_HEAD,
        enum=HEADS,
        description="; ".join(f"{spec.name}: {spec.summary}" for spec in HEAD_SPECS.values()),
    )
    tokenization: Tokenization = "char"
    max_len: int = setting(128, minimum=8)
    stride: int = setting(32, minimum=0)
    scheme: Scheme = "BIOS"
    scratch: ScratchConfig = ScratchConfig()
    bilstm: BiLSTMConfig = BiLSTMConfig()
    features: FeatureConfig = FeatureConfig()
    train: TrainConfig = TrainConfig()
    feature_dir: str | None = None


def _fields() -> Iterator[tuple[str, Any, Any]]:
    """The experiment's fields with every head's own settings after ``scheme``."""

    def own(block: type) -> Iterator[tuple[str, Any, Any]]:
        hints = get_type_hints(block)
        for field in dataclasses.fields(block):
            if field.default is not dataclasses.MISSING:
                default = dataclasses.field(default=field.default, metadata=field.metadata)
            elif field.default_factory is not dataclasses.MISSING:
                default = dataclasses.field(
                    default_factory=field.default_factory, metadata=field.metadata
                )
            else:
                default = dataclasses.field(metadata=field.metadata)
            yield field.name, hints[field.name], default

    owner: dict[str, str] = {}
    for name, hint, default in own(_Experiment):
        yield name, hint, default
        if name == "scheme":
            for spec in HEAD_SPECS.values():
                for setting_name, setting_hint, setting_default in own(spec.Settings):
                    if setting_name in owner or setting_name in _Experiment.__dataclass_fields__:
                        raise TypeError(f"head {spec.name}: setting {setting_name!r} is taken")
                    owner[setting_name] = spec.name
                    yield setting_name, setting_hint, setting_default


ExperimentConfig = dataclasses.make_dataclass(
    "ExperimentConfig",
    list(_fields()),
    bases=(Section,),
    frozen=True,
    namespace={"__doc__": _Experiment.__doc__, "__module__": __name__},
)
