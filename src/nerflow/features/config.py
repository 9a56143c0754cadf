"""The ``features`` block of an experiment: its keys and their defaults."""

from __future__ import annotations

import dataclasses

from nerflow.section import Section


@dataclasses.dataclass(frozen=True)
class FeatureConfig(Section):
    """Extra character inputs of from-scratch encoders (``nerflow.features.featurizer`` says what
    each
    adds); ``lexicon_path`` None is jieba's own dictionary, ``*_dim`` are model sizes."""

    PATH = "experiments.NAME.features"

    bigram: bool = False
    lexicon: bool = False

    bigram_min_freq: int = 2
    lexicon_max_len: int = 8
    lexicon_path: str | None = None

    bigram_dim: int = 64
    lexicon_dim: int = 32

    lexicon_words: bool = False
    lexicon_word_min_freq: int = 1
    lexicon_word_k: int = 4
    lexicon_word_dim: int = 50

    gazetteer: bool = False
    gazetteer_folds: int = 5
    gazetteer_min_len: int = 2
    gazetteer_max_len: int = 16
    gazetteer_dim: int = 32

    lac: bool = False
    lac_dim: int = 32
    lac_scores: bool = False
    lac_scores_dim: int = 32
    lac_hidden: bool = False
    lac_hidden_dim: int = 128
    lac_encoder: bool = False
    lac_encoder_dim: int = 128
