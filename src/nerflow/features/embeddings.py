"""Embeddings of the input features (:mod:`nerflow.features.featurizer`) that emitters take in."""

from __future__ import annotations

import torch
from torch import nn

from nerflow.features.featurizer import Featurizer
from nerflow.features.gazetteer import unpack_bit_words
from nerflow.features.lac_analyser import N_HIDDEN, N_IDS, N_SCORES
from nerflow.features.lac_encoder import LacEncoder
from nerflow.features.lexicon import unpack_bits

FEATURE_SIZE_KEYS = (
    "bigram_vocab_size",
    "bigram_dim",
    "lexicon_bits",
    "lexicon_dim",
    "word_vocab_size",
    "word_dim",
    "gazetteer_bits",
    "gazetteer_dim",
    "lac_vocab_size",
    "lac_dim",
    "lac_scores",
    "lac_scores_dim",
    "lac_hidden",
    "lac_hidden_dim",
    "lac_encoder",
    "lac_encoder_dim",
)
"""The sizes of :class:`FeatureInputs` (its constructor's arguments)."""


class FeatureInputs(nn.Module):
    """Embeddings of the input features: ``[batch, seq, output_dim]``.

    Bigrams: one embedding table, the left and right bigram of each position
    concatenated (``2 * bigram_dim``); lexicon: the BMES multi-hot bits through a linear
    layer (``lexicon_dim``); lexicon words: the mean embedding of the matched words of
    each of the B, M and E sets (``3 * word_dim``); gazetteer: its per-type BMES bits
    through a linear layer (``gazetteer_dim``); LAC: its (word position x tag) ids embedded
    (``lac_dim``, id 0 padding) and its ``lac_scores`` emission scores through a linear
    layer (``lac_scores_dim``) and its last hidden layer ``lac_hidden`` through a linear
    layer (``lac_hidden_dim``); LAC's encoder itself (``lac_encoder``, a trainable
    :class:`LacEncoder` on the ``lac_tokens``) through a linear layer
    (``lac_encoder_dim``). Sizes of 0 switch a feature off.
    """

    def __init__(
        self,
        bigram_vocab_size: int,
        bigram_dim: int,
        lexicon_bits: int,
        lexicon_dim: int,
        word_vocab_size: int = 0,
        word_dim: int = 0,
        gazetteer_bits: int = 0,
        gazetteer_dim: int = 0,
        lac_vocab_size: int = 0,
        lac_dim: int = 0,
        lac_scores: int = 0,
        lac_scores_dim: int = 0,
        lac_hidden: int = 0,
        lac_hidden_dim: int = 0,
        lac_encoder: int = 0,
        lac_encoder_dim: int = 0,
    ) -> None:
        super().__init__()
        self.sizes = {
            "bigram_vocab_size": int(bigram_vocab_size),
            "bigram_dim": int(bigram_dim) if bigram_vocab_size else 0,
            "lexicon_bits": int(lexicon_bits),
            "lexicon_dim": int(lexicon_dim) if lexicon_bits else 0,
            "word_vocab_size": int(word_vocab_size),
            "word_dim": int(word_dim) if word_vocab_size else 0,
            "gazetteer_bits": int(gazetteer_bits),
            "gazetteer_dim": int(gazetteer_dim) if gazetteer_bits else 0,
            "lac_vocab_size": int(lac_vocab_size),
            "lac_dim": int(lac_dim) if lac_vocab_size else 0,
            "lac_scores": int(lac_scores),
            "lac_scores_dim": int(lac_scores_dim) if lac_scores else 0,
            "lac_hidden": int(lac_hidden),
            "lac_hidden_dim": int(lac_hidden_dim) if lac_hidden else 0,
            "lac_encoder": int(lac_encoder),
            "lac_encoder_dim": int(lac_encoder_dim) if lac_encoder else 0,
        }
        self.bigram = (
            nn.Embedding(bigram_vocab_size, bigram_dim, padding_idx=0)
            if bigram_vocab_size
            else None
        )
        self.lexicon = nn.Linear(lexicon_bits, lexicon_dim) if lexicon_bits else None
        self.words = (
            nn.Embedding(word_vocab_size, word_dim, padding_idx=0) if word_vocab_size else None
        )
        self.gazetteer = nn.Linear(gazetteer_bits, gazetteer_dim) if gazetteer_bits else None
        self.lac = nn.Embedding(lac_vocab_size, lac_dim, padding_idx=0) if lac_vocab_size else None
        self.lac_scores = nn.Linear(lac_scores, lac_scores_dim) if lac_scores else None
        self.lac_hidden = nn.Linear(lac_hidden, lac_hidden_dim) if lac_hidden else None
        self.lac_encoder = LacEncoder() if lac_encoder else None
        self.lac_encoder_out = nn.Linear(lac_encoder, lac_encoder_dim) if lac_encoder else None

    @classmethod
    def for_featurizer(cls, featurizer: Featurizer | None) -> FeatureInputs | None:
        """The inputs module of a featurizer (None when it has no features)."""
        if featurizer is None or not featurizer.tensor_names:
            return None
        return cls(**feature_sizes(featurizer))

    @property
    def names(self) -> list[str]:
        """The feature tensors :meth:`forward` takes."""
        modules = (
            ("bigram_ids", self.bigram),
            ("lexicon_bits", self.lexicon),
            ("lexicon_word_ids", self.words),
            ("gazetteer_bits", self.gazetteer),
            ("lac_ids", self.lac),
            ("lac_scores", self.lac_scores),
            ("lac_hidden", self.lac_hidden),
            ("lac_tokens", self.lac_encoder),
        )
        return [name for name, module in modules if module is not None]

    @property
    def output_dim(self) -> int:
        sizes = self.sizes
        return (
            2 * sizes["bigram_dim"]
            + sizes["lexicon_dim"]
            + 3 * sizes["word_dim"]
            + sizes["gazetteer_dim"]
            + sizes["lac_dim"]
            + sizes["lac_scores_dim"]
            + sizes["lac_hidden_dim"]
            + sizes["lac_encoder_dim"]
        )

    def forward(self, **features: torch.Tensor) -> torch.Tensor:
        unexpected = sorted(set(features) - set(self.names))
        missing = sorted(set(self.names) - set(features))
        if unexpected or missing:
            raise ValueError(
                f"feature tensors: missing {missing}, unexpected {unexpected} (the model "
                f"uses {self.names}; pass the featurizer's tensors to forward/decode)"
            )
        parts = []
        if self.bigram is not None:
            parts.append(self.bigram(features["bigram_ids"]).flatten(-2))
        if self.lexicon is not None:
            parts.append(
                self.lexicon(unpack_bits(features["lexicon_bits"], self.sizes["lexicon_bits"]))
            )
        if self.words is not None:
            ids = features["lexicon_word_ids"]  # [batch, seq, 3, k]
            counts = (ids != 0).sum(dim=-1, keepdim=True).clamp(min=1)
            pooled = self.words(ids).sum(dim=-2) / counts.to(self.words.weight.dtype)
            parts.append(pooled.flatten(-2))
        if self.gazetteer is not None:
            bits = unpack_bit_words(features["gazetteer_bits"], self.sizes["gazetteer_bits"])
            parts.append(self.gazetteer(bits))
        if self.lac is not None:
            parts.append(self.lac(features["lac_ids"]))
        if self.lac_scores is not None:
            scores = features["lac_scores"].to(self.lac_scores.weight.dtype)
            parts.append(self.lac_scores(scores))
        if self.lac_hidden is not None:
            states = features["lac_hidden"].to(self.lac_hidden.weight.dtype)
            parts.append(self.lac_hidden(states))
        if self.lac_encoder is not None and self.lac_encoder_out is not None:
            parts.append(self.lac_encoder_out(self.lac_encoder(features["lac_tokens"])))
        return torch.cat(parts, dim=-1)


def feature_sizes(featurizer: Featurizer | None) -> dict[str, int]:
    """:class:`FeatureInputs` sizes of a featurizer (all 0 without one)."""
    if featurizer is None:
        return {k: 0 for k in FEATURE_SIZE_KEYS}
    spec = featurizer.spec
    return {
        "bigram_vocab_size": featurizer.bigram_vocab_size,
        "bigram_dim": spec.bigram_dim if featurizer.bigram_vocab_size else 0,
        "lexicon_bits": featurizer.lexicon_bits,
        "lexicon_dim": spec.lexicon_dim if featurizer.lexicon_bits else 0,
        "word_vocab_size": featurizer.word_vocab_size,
        "word_dim": spec.lexicon_word_dim if featurizer.word_vocab_size else 0,
        "gazetteer_bits": featurizer.gazetteer_bits,
        "gazetteer_dim": spec.gazetteer_dim if featurizer.gazetteer_bits else 0,
        "lac_vocab_size": N_IDS if spec.lac else 0,
        "lac_dim": spec.lac_dim if spec.lac else 0,
        "lac_scores": N_SCORES if spec.lac_scores else 0,
        "lac_scores_dim": spec.lac_scores_dim if spec.lac_scores else 0,
        "lac_hidden": N_HIDDEN if spec.lac_hidden else 0,
        "lac_hidden_dim": spec.lac_hidden_dim if spec.lac_hidden else 0,
        "lac_encoder": N_HIDDEN if spec.lac_encoder else 0,
        "lac_encoder_dim": spec.lac_encoder_dim if spec.lac_encoder else 0,
    }
