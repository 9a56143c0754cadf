"""Character bigrams (``features.bigram``).

Every character gets the ids of its LEFT bigram ``c[i-1] c[i]`` and its RIGHT bigram
``c[i] c[i+1]`` (``\\x02``/``\\x03`` mark the text's start and end), looked up in ONE
bigram vocabulary built from the train texts (``bigram_min_freq``; rarer bigrams, and
unseen ones at prediction, are ``[UNK]``). A bigram is a word-like unit ("北京", "银行",
"有限"): its embedding tells the tagger whether a character is likely to start, continue
or end a word, which the character embedding alone must learn from context. The model
embeds both bigrams of a position in one table and concatenates them (``2 * bigram_dim``);
a character replaced by token dropout has its bigrams replaced too.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nerflow.features.feature import InputFeature, Modules, Sizes, Tensors
from nerflow.features.specials import SPECIALS, UNK_ID
from nerflow.section import size

if TYPE_CHECKING:
    import torch
    from torch import nn

TEXT_START, TEXT_END = "\x02", "\x03"
BIGRAM_FILE = "bigrams.json"


def text_bigrams(text: str) -> list[str]:
    """The ``len(text) + 1`` bigrams of ``text`` with start/end markers.

    Character ``i`` has left bigram ``bigrams[i]`` and right bigram ``bigrams[i + 1]``.
    """
    padded = TEXT_START + text + TEXT_END
    return [padded[i : i + 2] for i in range(len(text) + 1)]


def build_bigram_vocab(texts: Iterable[str], min_freq: int = 2) -> list[str]:
    """``[PAD]``, ``[UNK]``, then bigrams seen ``min_freq`` times or more (by frequency)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text_bigrams(text))
    kept = sorted(
        (b for b, n in counts.items() if n >= min_freq and b not in SPECIALS),
        key=lambda b: (-counts[b], b),
    )
    return list(SPECIALS) + kept


def bigram_ids(text: str, index: Mapping[str, int]) -> np.ndarray:
    """``int64 [len(text), 2]``: per character, the ids of its left and right bigrams
    in the vocabulary ``index`` (``{bigram: id}``; unknown bigrams are ``[UNK]``)."""
    ids = np.array([index.get(b, UNK_ID) for b in text_bigrams(text)], dtype=np.int64)
    return np.stack([ids[:-1], ids[1:]], axis=1).reshape(len(text), 2)


@dataclasses.dataclass(frozen=True)
class BigramSettings:
    """``features.bigram`` and its vocabulary's and embedding's sizes."""

    bigram: bool = False
    bigram_min_freq: int = size(2)
    bigram_dim: int = size(64)


class Bigram(InputFeature):
    """Left and right bigram ids per character (``bigram_ids``, ``LongTensor [n, 2]``)."""

    name = "bigram"
    Settings = BigramSettings
    tensors = {"bigram": "bigram_ids"}
    asset_keys = ("bigram", "bigram_min_freq")
    size_keys = ("bigram_vocab_size", "bigram_dim")
    inputs = {"bigram": "bigram_ids"}

    def __init__(self, spec: Any, vocab: list[str] | None = None) -> None:
        super().__init__(spec)
        self._set(vocab if self.on else None)

    def _set(self, vocab: list[str] | None) -> None:
        self.vocab = vocab
        self.index = {bigram: i for i, bigram in enumerate(vocab or [])}

    def build(self, train_texts: Sequence[str], train_records: Sequence[Any] | None) -> None:
        if self.on:
            self._set(build_bigram_vocab(train_texts, self.spec.bigram_min_freq))

    def save(self, folder: Path) -> None:
        (folder / BIGRAM_FILE).unlink(missing_ok=True)
        if self.vocab is not None:
            text = json.dumps(self.vocab, ensure_ascii=False) + "\n"
            (folder / BIGRAM_FILE).write_text(text, encoding="utf-8")

    def load(self, folder: Path) -> None:
        if self.on:
            self._set(json.loads((folder / BIGRAM_FILE).read_text(encoding="utf-8")))

    def update_fingerprint(self, digest: Any) -> None:
        # "null" while off too: the fingerprints of saved models were first made that way
        digest.update(json.dumps(self.vocab, ensure_ascii=False).encode())

    def describe(self) -> dict[str, Any]:
        return {"bigram_vocab_size": len(self.vocab or [])}

    def char_features(self, text: str, context: Any = None) -> dict[str, np.ndarray]:
        if self.vocab is None:
            return {}
        return {"bigram_ids": bigram_ids(text, self.index)}

    def sizes(self) -> dict[str, int]:
        size = len(self.vocab or [])
        return {"bigram_vocab_size": size, "bigram_dim": self.spec.bigram_dim if size else 0}

    @classmethod
    def modules(cls, sizes: Mapping[str, int]) -> list[tuple[str, nn.Module]]:
        from torch import nn

        if not sizes["bigram_vocab_size"]:
            return []
        return [("bigram", nn.Embedding(sizes["bigram_vocab_size"], sizes["bigram_dim"], 0))]

    @classmethod
    def output_dim(cls, sizes: Mapping[str, int]) -> int:
        return 2 * sizes["bigram_dim"] if sizes["bigram_vocab_size"] else 0

    @classmethod
    def embed(cls, modules: Modules, tensors: Tensors, sizes: Sizes) -> list[torch.Tensor]:
        if "bigram" not in modules:
            return []
        return [modules["bigram"](tensors["bigram_ids"]).flatten(-2)]

    @classmethod
    def drop_tokens(
        cls, tensors: dict[str, torch.Tensor], dropped: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if "bigram_ids" not in tensors:
            return tensors
        return {
            **tensors,
            "bigram_ids": tensors["bigram_ids"].masked_fill(dropped[..., None], UNK_ID),
        }
