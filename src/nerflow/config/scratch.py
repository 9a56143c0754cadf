"""The sizes of a BERT trained from random initialisation, and masked-LM pretraining runs of
one (the ``pretraining`` block of the workflow's config)."""

from __future__ import annotations

import dataclasses

from nerflow.config.choices import Device
from nerflow.section import Section
from nerflow.text.tokenization import Tokenization


@dataclasses.dataclass(frozen=True)
class ScratchConfig(Section):
    """Size of a randomly initialised BERT (``encoder: scratch``)."""

    PATH = "experiments.NAME.scratch"

    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    dropout: float = 0.1


@dataclasses.dataclass(frozen=True)
class PretrainConfig(ScratchConfig):
    """A masked-LM pretraining run of a scratch BERT: its sizes
    (the fields of :class:`ScratchConfig`), then how it is trained. ``lexicon``: ``jieba``
    or a jieba-format dictionary file, used when ``whole_word``; ``eval_every_steps`` 0
    evaluates once per epoch; ``max_minutes`` 0 is no limit (a limit stops training early,
    the learning-rate schedule stays the one planned for ``epochs``)."""

    PATH = "pretraining.NAME"

    max_len: int = 64
    tokenization: Tokenization = "char"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 5.0e-4
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    mlm_probability: float = 0.15
    whole_word: bool = True
    lexicon: str = "jieba"
    heldout_fraction: float = 0.02
    eval_every_steps: int = 0
    seed: int = 42
    max_minutes: float = 0
    device: Device = "auto"
