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

The model unpacks the bits into a ``LEXICON_BITS``-dim multi-hot vector. Matching is
case-insensitive (the text is lower-cased character by character, so offsets never move)
and limited to words of at most ``lexicon_max_len`` characters. The matched words
themselves, per position (:meth:`Lexicon.match_sets`), feed the lexicon word embeddings
(see :mod:`nerflow.features.featurizer`).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import torch

from nerflow.features.matching import POSITIONS, bmes_roles, lower_chars, substrings

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
    shifts = torch.arange(n_bits, device=bits.device)
    return ((bits[..., None] >> shifts) & 1).float()
