"""Lexicon matches (``features.lexicon``, SoftLexicon-style, Ma et al. 2020).

Every word of a lexicon (jieba's 349k-word dictionary by default, with its part-of-speech
tags) found in the text marks its characters as B (first), M (inside), E (last) or S (a
one-character word). Per character we record, as bits of one ``int64``:

* for each position set B/M/E/S, which coarse word classes matched there (person names
  ``nr/nrt/nrfg``, places ``ns``, organisations ``nt``, other proper nouns ``nz``, common
  nouns ``n/ng``, abbreviations ``j``, anything else): the dictionary's POS tags are weak,
  free entity-type evidence ("浙商银行" may be unknown but "银行" ends an ``n``, a place
  name often starts an organisation);
* for B, M and E, the lengths of the matched words (2, 3, 4, 5+; M: 3, 4, 5+), i.e.
  candidate word boundaries: the segmentation evidence a word-based model has.

The model unpacks the bits into a ``LEXICON_BITS``-dim multi-hot vector through a linear
layer (``lexicon_dim``). Matching is case-insensitive (the text is lower-cased character
by character, so offsets never move) and limited to words of at most ``lexicon_max_len``
characters.

**Lexicon word embeddings** (``features.lexicon_words``, the SoftLexicon set embeddings):
per character, the ids of up to ``lexicon_word_k`` matched multi-character words in each
of its B, M and E sets (:meth:`Lexicon.match_sets`, longest first), in a word vocabulary
of the lexicon words found in the TRAIN texts (``lexicon_word_min_freq``; other lexicon
words are ``[UNK]``). The model averages the embeddings of each set
(``3 * lexicon_word_dim``). Without pretrained word vectors these embeddings are learnt
from the train set only: they identify frequent words, the lexicon bits generalise.

Assets: ``lexicon.tsv.gz`` (the lexicon as ``word<TAB>class``) and ``lexicon_words.json``
(the word vocabulary, train only).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nerflow.features.feature import InputFeature, Modules, Sizes, Tensors
from nerflow.features.matching import POSITIONS, bmes_roles, lower_chars, substrings
from nerflow.features.specials import SPECIALS, UNK_ID
from nerflow.section import setting, size, switch

if TYPE_CHECKING:
    import torch
    from torch import nn

LEXICON_FILE = "lexicon.tsv.gz"
WORDS_FILE = "lexicon_words.json"

WORD_CLASSES: tuple[str, ...] = ("per", "loc", "org", "nz", "noun", "abbr", "other")
"""Lexicon word classes, from jieba's POS tags (:data:`POS_CLASS`)."""
POS_CLASS: dict[str, str] = {
    "nr": "per",
    "nrt": "per",
    "nrfg": "per",
    "ns": "loc",
    "nt": "org",
    "nz": "nz",
    "n": "noun",
    "ng": "noun",
    "j": "abbr",
}
LENGTH_BUCKETS: dict[str, tuple[int, ...]] = {"B": (2, 3, 4, 5), "M": (3, 4, 5), "E": (2, 3, 4, 5)}
"""Word-length bits per position; the last bucket of each means "this long or longer"."""


def _bit_layout() -> dict[tuple[str, str], int]:
    layout: dict[tuple[str, str], int] = {}
    for position in POSITIONS:
        for word_class in WORD_CLASSES:
            layout[(position, word_class)] = len(layout)
    for position, lengths in LENGTH_BUCKETS.items():
        for length in lengths:
            layout[(position, f"len{length}")] = len(layout)
    return layout


BIT_INDEX: dict[tuple[str, str], int] = _bit_layout()
"""``(position, class-or-"lenN") -> bit``: see the module docstring."""
LEXICON_BITS = len(BIT_INDEX)
assert LEXICON_BITS <= 63


def word_class(pos: str | None) -> str:
    """Coarse word class of a jieba POS tag (``other`` when unknown or missing)."""
    return POS_CLASS.get(pos or "", "other")


def read_word_list(path: str | Path, max_len: int) -> dict[str, str]:
    """Read a jieba-format dictionary (``word [freq] [pos]`` per line) -> {word: class}.

    Words are lower-cased; words longer than ``max_len`` are skipped; the first entry of
    a word wins (jieba's own dictionary lists ``C#`` before ``c#``).
    """
    words: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if not parts:
                continue
            word = lower_chars(parts[0])
            if len(word) > max_len or word in words:
                continue
            pos = parts[2] if len(parts) >= 3 else (parts[1] if len(parts) == 2 else None)
            if pos is not None and pos.isdigit():
                pos = None
            words[word] = word_class(pos)
    return words


def jieba_dictionary_path() -> Path:
    """Path of the dictionary shipped inside the jieba wheel (``jieba/dict.txt``)."""
    try:
        import jieba
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the lexicon feature needs jieba (pip install 'nerflow[lexicon]')"
        ) from error
    path = Path(jieba.__file__).parent / "dict.txt"
    if not path.exists():  # pragma: no cover
        raise FileNotFoundError(f"jieba dictionary not found at {path}")
    return path


Match = tuple[int, int, str]
"""``(start, end_exclusive, word class)`` of one lexicon word found in a text."""


class Lexicon:
    """A word -> class mapping and the per-character BMES matches of a text."""

    def __init__(self, words: Mapping[str, str], max_len: int) -> None:
        unknown = {c for c in words.values() if c not in WORD_CLASSES}
        if unknown:
            raise ValueError(f"unknown word classes {sorted(unknown)}; known: {WORD_CLASSES}")
        self.max_len = int(max_len)
        self.words = {lower_chars(w): c for w, c in words.items() if 0 < len(w) <= self.max_len}

    def __len__(self) -> int:
        return len(self.words)

    def matches(self, text: str) -> list[Match]:
        """Every lexicon word in ``text`` as ``(start, end_exclusive, class)``."""
        found = []
        for start, end, word in substrings(lower_chars(text), 1, self.max_len):
            word_cls = self.words.get(word)
            if word_cls is not None:
                found.append((start, end, word_cls))
        return found

    def match_sets(
        self, text: str, matches: list[Match] | None = None
    ) -> list[dict[str, list[str]]]:
        """Per character, its matched words by position: ``{"B"|"M"|"E"|"S": [word, ...]}``.

        Words are lower-cased (the lexicon's form) and listed once per match, in match
        order: a character inside two overlapping occurrences of one word has it twice in
        its M list (the middle "哈" of "哈哈哈哈哈" and the word "哈哈哈哈"). ``matches``: those
        of ``text``, when already computed.
        """
        lowered = lower_chars(text)
        sets: list[dict[str, list[str]]] = [{p: [] for p in POSITIONS} for _ in text]
        for start, end, _ in self.matches(text) if matches is None else matches:
            for char, position in bmes_roles(start, end):
                sets[char][position].append(lowered[start:end])
        return sets

    def char_bits(self, text: str, matches: list[Match] | None = None) -> list[int]:
        """Per character, the ``int64`` bit set of its matches (see the module docstring)."""
        bits = [0] * len(text)
        for start, end, word_cls in self.matches(text) if matches is None else matches:
            for char, position in bmes_roles(start, end):
                bits[char] |= 1 << BIT_INDEX[(position, word_cls)]
                if position != "S":
                    bucket = min(end - start, LENGTH_BUCKETS[position][-1])
                    bits[char] |= 1 << BIT_INDEX[(position, f"len{bucket}")]
        return bits

    def to_bytes(self) -> bytes:
        """The words as ``word<TAB>class`` lines, sorted (the lexicon asset, uncompressed)."""
        buffer = io.StringIO()
        for word in sorted(self.words):
            buffer.write(f"{word}\t{self.words[word]}\n")
        return buffer.getvalue().encode("utf-8")

    def save(self, path: Path) -> None:
        """Write :meth:`to_bytes` gzipped (no timestamp, so equal lexicons give equal files)."""
        with open(path, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
                handle.write(self.to_bytes())

    @classmethod
    def load(cls, path: Path, max_len: int) -> Lexicon:
        """The lexicon :meth:`save` wrote (read once per file version)."""
        stat = path.stat()
        return cls(dict(_read_lexicon(str(path), stat.st_mtime_ns, stat.st_size)), max_len)


@lru_cache(maxsize=4)
def _read_lexicon(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip("\n")]
    return tuple((word, cls) for word, cls in rows)


def unpack_bits(bits: torch.Tensor, n_bits: int = LEXICON_BITS) -> torch.Tensor:
    """``int64 [...]`` bit sets -> float multi-hot ``[..., n_bits]``."""
    from nerflow.nn.bits import unpack_bits as unpack

    return unpack(bits, n_bits)


def build_word_vocab(texts: Iterable[str], lexicon: Lexicon, min_freq: int = 1) -> list[str]:
    """``[PAD]``, ``[UNK]``, then the multi-character lexicon words matched in ``texts``
    ``min_freq`` times or more (lower-cased, by frequency)."""
    counts: Counter[str] = Counter()
    for text in texts:
        lowered = lower_chars(text)
        counts.update(lowered[s:e] for s, e, _ in lexicon.matches(text) if e - s >= 2)
    kept = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
    return list(SPECIALS) + [w for w in kept if w not in SPECIALS]


@dataclasses.dataclass(frozen=True)
class LexiconSettings:
    """``features.lexicon`` (match bits) and ``features.lexicon_words`` (matched words),
    which share the lexicon."""

    lexicon: bool = False
    lexicon_max_len: int = size(8)
    lexicon_path: str | None = setting(
        None, description="a jieba-format dictionary (null = jieba's own 349k-word dictionary)"
    )
    lexicon_dim: int = size(32)
    lexicon_words: bool = switch(
        "SoftLexicon word embeddings (B/M/E sets of matched words, train vocabulary)"
    )
    lexicon_word_min_freq: int = size(1)
    lexicon_word_k: int = size(4)
    lexicon_word_dim: int = size(50)


class LexiconFeature(InputFeature):
    """Lexicon match bits (``lexicon_bits``, ``LongTensor [n]``) and matched word ids
    (``lexicon_word_ids``, ``LongTensor [n, 3, lexicon_word_k]``: B, M, E, 0-padded)."""

    name = "lexicon"
    Settings = LexiconSettings
    tensors = {"lexicon": "lexicon_bits", "lexicon_words": "lexicon_word_ids"}
    asset_keys = (
        "lexicon",
        "lexicon_max_len",
        "lexicon_words",
        "lexicon_word_min_freq",
        "lexicon_word_k",
    )
    size_keys = ("lexicon_bits", "lexicon_dim", "word_vocab_size", "word_dim")
    inputs = {"lexicon": "lexicon_bits", "words": "lexicon_word_ids"}

    def __init__(
        self, spec: Any, lexicon: Lexicon | None = None, words: list[str] | None = None
    ) -> None:
        super().__init__(spec)
        self.lexicon = lexicon if self.on else None
        self._set_words(words if spec.lexicon_words else None)

    def _set_words(self, words: list[str] | None) -> None:
        self.word_vocab = words
        self.word_index = {word: i for i, word in enumerate(words or [])}

    def build(self, train_texts: Sequence[str], train_records: Sequence[Any] | None) -> None:
        if not self.on:
            return
        path = self.spec.lexicon_path or jieba_dictionary_path()
        self.lexicon = Lexicon(
            read_word_list(path, self.spec.lexicon_max_len), self.spec.lexicon_max_len
        )
        if self.spec.lexicon_words:
            min_freq = self.spec.lexicon_word_min_freq
            self._set_words(build_word_vocab(train_texts, self.lexicon, min_freq))

    def save(self, folder: Path) -> None:
        for name in (LEXICON_FILE, WORDS_FILE):
            (folder / name).unlink(missing_ok=True)
        if self.lexicon is not None:
            self.lexicon.save(folder / LEXICON_FILE)
        if self.word_vocab is not None:
            text = json.dumps(self.word_vocab, ensure_ascii=False) + "\n"
            (folder / WORDS_FILE).write_text(text, encoding="utf-8")

    def load(self, folder: Path) -> None:
        if self.on:
            self.lexicon = Lexicon.load(folder / LEXICON_FILE, self.spec.lexicon_max_len)
        if self.spec.lexicon_words:
            self._set_words(json.loads((folder / WORDS_FILE).read_text(encoding="utf-8")))

    def update_fingerprint(self, digest: Any) -> None:
        if self.lexicon is not None:
            digest.update(self.lexicon.to_bytes())
        if self.word_vocab is not None:
            digest.update(json.dumps(self.word_vocab, ensure_ascii=False).encode())

    def describe(self) -> dict[str, Any]:
        return {
            "lexicon_words": len(self.lexicon) if self.lexicon is not None else 0,
            "lexicon_bits": LEXICON_BITS if self.spec.lexicon else 0,
            "word_vocab_size": len(self.word_vocab or []),
        }

    def char_features(self, text: str, context: Any = None) -> dict[str, np.ndarray]:
        if self.lexicon is None:
            return {}
        out = {}
        matches = self.lexicon.matches(text)
        if self.spec.lexicon:
            bits = self.lexicon.char_bits(text, matches)
            out["lexicon_bits"] = np.array(bits, dtype=np.int64).reshape(len(text))
        if self.word_vocab is not None:
            out["lexicon_word_ids"] = self._word_ids(self.lexicon.match_sets(text, matches))
        return out

    def _word_ids(self, match_sets: Sequence[Mapping[str, Sequence[str]]]) -> np.ndarray:
        """``int64 [n, 3, lexicon_word_k]``: per character of the text that gave
        ``match_sets`` (:meth:`Lexicon.match_sets`), the vocabulary ids of the longest
        words of its B, M and E sets (ties by word), 0-padded."""
        k = self.spec.lexicon_word_k
        ids = np.zeros((len(match_sets), 3, k), dtype=np.int64)
        for char, per_position in enumerate(match_sets):
            for row, position in enumerate(("B", "M", "E")):
                chosen = sorted(per_position[position], key=lambda w: (-len(w), w))[:k]
                for slot, word in enumerate(chosen):
                    ids[char, row, slot] = self.word_index.get(word, UNK_ID)
        return ids

    def sizes(self) -> dict[str, int]:
        bits = LEXICON_BITS if self.spec.lexicon else 0
        words = len(self.word_vocab or [])
        return {
            "lexicon_bits": bits,
            "lexicon_dim": self.spec.lexicon_dim if bits else 0,
            "word_vocab_size": words,
            "word_dim": self.spec.lexicon_word_dim if words else 0,
        }

    @classmethod
    def modules(cls, sizes: Mapping[str, int]) -> list[tuple[str, nn.Module]]:
        from torch import nn

        parts: list[tuple[str, nn.Module]] = []
        if sizes["lexicon_bits"]:
            parts.append(("lexicon", nn.Linear(sizes["lexicon_bits"], sizes["lexicon_dim"])))
        if sizes["word_vocab_size"]:
            words = nn.Embedding(sizes["word_vocab_size"], sizes["word_dim"], padding_idx=0)
            parts.append(("words", words))
        return parts

    @classmethod
    def output_dim(cls, sizes: Mapping[str, int]) -> int:
        return (sizes["lexicon_dim"] if sizes["lexicon_bits"] else 0) + (
            3 * sizes["word_dim"] if sizes["word_vocab_size"] else 0
        )

    @classmethod
    def embed(cls, modules: Modules, tensors: Tensors, sizes: Sizes) -> list[torch.Tensor]:
        parts = []
        if "lexicon" in modules:
            parts.append(
                modules["lexicon"](unpack_bits(tensors["lexicon_bits"], sizes["lexicon_bits"]))
            )
        if "words" in modules:
            words = modules["words"]
            ids = tensors["lexicon_word_ids"]  # [batch, seq, 3, k]
            counts = (ids != 0).sum(dim=-1, keepdim=True).clamp(min=1)
            pooled = words(ids).sum(dim=-2) / counts.to(words.weight.dtype)
            parts.append(pooled.flatten(-2))
        return parts
