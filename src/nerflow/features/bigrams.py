"""Character bigrams (``features.bigram``) and the specials of the feature vocabularies.

Every character gets the ids of its LEFT bigram ``c[i-1] c[i]`` and its RIGHT bigram
``c[i] c[i+1]`` (``\\x02``/``\\x03`` mark the text's start and end), looked up in ONE
bigram vocabulary built from the train texts (``bigram_min_freq``; rarer bigrams, and
unseen ones at prediction, are ``[UNK]``). A bigram is a word-like unit ("北京", "银行",
"有限"): its embedding tells the tagger whether a character is likely to start, continue
or end a word, which the character embedding alone must learn from context.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import torch

SPECIALS: tuple[str, ...] = ("[PAD]", "[UNK]")
"""The first entries of every feature vocabulary (bigrams, lexicon words)."""
PAD_ID, UNK_ID = 0, 1
TEXT_START, TEXT_END = "\x02", "\x03"


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


def bigram_ids(text: str, index: Mapping[str, int]) -> torch.Tensor:
    """``LongTensor [len(text), 2]``: per character, the ids of its left and right bigrams
    in the vocabulary ``index`` (``{bigram: id}``; unknown bigrams are ``[UNK]``)."""
    ids = [index.get(b, UNK_ID) for b in text_bigrams(text)]
    pairs = [[ids[i], ids[i + 1]] for i in range(len(text))]
    return torch.tensor(pairs, dtype=torch.long).reshape(len(text), 2)
