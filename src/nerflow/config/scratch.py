"""The sizes of a BERT trained from random initialisation, and masked-LM pretraining runs of
one (the ``pretraining`` block of the workflow's config)."""

from __future__ import annotations

import dataclasses

from nerflow.config.choices import Device
from nerflow.section import Section, setting
from nerflow.text.tokenization import Tokenization


@dataclasses.dataclass(frozen=True)
class ScratchConfig(Section):
    """Size of a randomly initialised BERT (``encoder: scratch``)."""

    PATH = "experiments.NAME.scratch"

    layers: int = setting(4, minimum=1)
    hidden: int = setting(256, minimum=8)
    heads: int = setting(4, minimum=1)
    intermediate: int = setting(1024, minimum=8)
    dropout: float = setting(0.1, minimum=0, maximum=1)


@dataclasses.dataclass(frozen=True)
class PretrainConfig(ScratchConfig):
    """A masked-LM pretraining run of a scratch BERT: its sizes
    (the fields of :class:`ScratchConfig`), then how it is trained. ``lexicon``: ``jieba``
    or a jieba-format dictionary file, used when ``whole_word``; ``eval_every_steps`` 0
    evaluates once per epoch; ``max_minutes`` 0 is no limit (a limit stops training early,
    the learning-rate schedule stays the one planned for ``epochs``)."""

    PATH = "pretraining.NAME"

    max_len: int = setting(64, minimum=8)
    tokenization: Tokenization = "char"
    epochs: int = setting(10, minimum=1)
    batch_size: int = setting(64, minimum=1)
    lr: float = setting(5.0e-4, exclusive_minimum=0)
    warmup_ratio: float = setting(0.06, minimum=0, maximum=1)
    weight_decay: float = setting(0.01, minimum=0)
    grad_clip: float = setting(1.0, minimum=0)
    mlm_probability: float = setting(0.15, exclusive_minimum=0, maximum=1)
    whole_word: bool = True
    lexicon: str = "jieba"
    heldout_fraction: float = setting(0.02, minimum=0, maximum=0.5)
    eval_every_steps: int = setting(0, minimum=0)
    seed: int = 42
    max_minutes: float = setting(0, minimum=0)
    device: Device = "auto"
