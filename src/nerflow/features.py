"""Richer character inputs for encoders trained from scratch: bigrams and lexicon matches.

Without pretrained weights a character tagger sees each character through one randomly
initialised embedding; three cheap, well-known inputs give it word-level evidence:

- **Character bigrams** (``features.bigram``): every character gets the ids of its LEFT
  bigram ``c[i-1] c[i]`` and its RIGHT bigram ``c[i] c[i+1]`` (``\\x02``/``\\x03`` mark
  the text's start and end), looked up in ONE bigram vocabulary built from the train
  texts (``bigram_min_freq``; rarer bigrams, and unseen ones at prediction, are
  ``[UNK]``). A bigram is a word-like unit ("北京", "银行", "有限"): its embedding tells
  the tagger whether a character is likely to start, continue or end a word, which the
  character embedding alone must learn from context.
- **Lexicon matches** (``features.lexicon``, SoftLexicon-style, Ma et al. 2020): every word
  of a lexicon (jieba's 349k-word dictionary by default, with its part-of-speech tags)
  found in the text marks its characters as B (first), M (inside), E (last) or S (a
  one-character word). Per character we record, as bits of one ``int64``:

  * for each position set B/M/E/S, which coarse word classes matched there
    (person names ``nr/nrt/nrfg``, places ``ns``, organisations ``nt``, other proper
    nouns ``nz``, common nouns ``n/ng``, abbreviations ``j``, anything else): the
    dictionary's POS tags are weak, free entity-type evidence ("浙商银行" may be unknown
    but "银行" ends an ``n``, a place name often starts an organisation);
  * for B, M and E, the lengths of the matched words (2, 3, 4, 5+; M: 3, 4, 5+),
    i.e. candidate word boundaries: the segmentation evidence a word-based model has.

  The model unpacks the bits into a ``LEXICON_BITS``-dim multi-hot vector. Matching is
  case-insensitive (the text is lower-cased character by character, so offsets never
  move) and limited to words of at most ``lexicon_max_len`` characters.
- **Lexicon word embeddings** (``features.lexicon_words``, the SoftLexicon set
  embeddings): per character, the ids of up to ``lexicon_word_k`` matched multi-character
  words in each of its B, M and E sets (longest first), in a word vocabulary of the
  lexicon words found in the TRAIN texts (``lexicon_word_min_freq``; other lexicon words
  are ``[UNK]``). The model averages the embeddings of each set (``3 *
  lexicon_word_dim``). Without pretrained word vectors these embeddings are learnt from
  the train set only: they identify frequent words, the bits above generalise.

- **Train-entity gazetteer** (``features.gazetteer``): the entity strings annotated in
  the TRAIN records, per type. Every gazetteer string found in a text marks its
  characters with type-specific B/M/E/S bits (``4 * n_types`` bits). A gazetteer built
  from the same records the model trains on would always be right on them, and the model
  would learn to trust it blindly; so the train records are split into
  ``gazetteer_folds`` folds (record ``i`` in fold ``i % folds``) and a TRAIN text only
  sees the strings annotated in the OTHER folds (recognised by its sha1, stored with the
  assets), the way cross-validated features are made for stacking. Any other text (dev,
  test, a new document) sees every string. On CLUENER 62% of dev mentions are a train
  string of the same type; out-of-fold matching teaches the model how far to trust that.
  Strings shorter than ``gazetteer_min_len`` or longer than ``gazetteer_max_len`` are not
  matched.

Features are computed per CHARACTER of the full original text (:meth:`Featurizer.char_features`)
and gathered per token by the token's first character (:meth:`Featurizer.token_features`);
special tokens get zeros (the padding id / no bits). A sliding window therefore sees
exactly the features the full text gives its characters: the bigram at a window edge
still looks at the neighbour outside the window.

Assets: :func:`build_feature_assets` writes ``nerflow_features.json`` (the feature spec),
``bigrams.json`` (the bigram vocabulary, train only), ``lexicon.tsv.gz`` (the lexicon
as ``word<TAB>class``) and ``lexicon_words.json`` (the word vocabulary, train only) into a
folder (the experiment's tokenizer folder); ``save_model`` copies them into the model
folder, so prediction needs nothing else.

What each adds (CLUENER dev micro F1, char BiLSTM-CRF 128/256, 8 epochs or 8 minutes on
one CPU thread, ``bench/ablation.py``): characters only 0.675; + bigrams 0.707; + lexicon
bits 0.707; + both 0.723; + both + lexicon words 0.723 in the same time, ahead at every
epoch (0.723 after 7 epochs vs 0.721). ``bigram_min_freq: 1`` (117k instead of 44k
bigrams) is slower and worse (0.708).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

SPEC_FILE = "nerflow_features.json"
BIGRAM_FILE = "bigrams.json"
LEXICON_FILE = "lexicon.tsv.gz"
WORDS_FILE = "lexicon_words.json"
GAZETTEER_FILE = "gazetteer.json"
BIGRAM_SPECIALS: tuple[str, ...] = ("[PAD]", "[UNK]")
PAD_ID, UNK_ID = 0, 1
TEXT_START, TEXT_END = "\x02", "\x03"

FEATURE_DEFAULTS: dict[str, Any] = {
    "bigram": False,
    "lexicon": False,
    "bigram_min_freq": 2,
    "lexicon_max_len": 8,
    "lexicon_path": None,
    "bigram_dim": 64,
    "lexicon_dim": 32,
    "lexicon_words": False,
    "lexicon_word_min_freq": 1,
    "lexicon_word_k": 4,
    "lexicon_word_dim": 50,
    "gazetteer": False,
    "gazetteer_folds": 5,
    "gazetteer_min_len": 2,
    "gazetteer_max_len": 16,
    "gazetteer_dim": 32,
}
"""Keys of an experiment's ``features`` block and their defaults (``*_dim``: the sizes of
the model's bigram embedding, used twice per character, lexicon projection and lexicon
word embedding)."""
ASSET_KEYS = (
    "bigram",
    "lexicon",
    "bigram_min_freq",
    "lexicon_max_len",
    "lexicon_words",
    "lexicon_word_min_freq",
    "lexicon_word_k",
    "gazetteer",
    "gazetteer_folds",
    "gazetteer_min_len",
    "gazetteer_max_len",
)
"""Settings the saved assets and feature tensors depend on (``lexicon_path`` only says
where the words came from, ``*_dim`` only concern the model)."""

# lexicon word classes from jieba's POS tags
WORD_CLASSES: tuple[str, ...] = ("per", "loc", "org", "nz", "noun", "abbr", "other")
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
POSITIONS: tuple[str, ...] = ("B", "M", "E", "S")
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


# --------------------------------------------------------------------------- spec


def normalize_features(features: Mapping[str, Any] | None) -> dict[str, Any]:
    """An experiment's ``features`` block with defaults filled in (unknown keys rejected)."""
    given = dict(features or {})
    unknown = sorted(set(given) - set(FEATURE_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown feature settings {unknown}; known: {sorted(FEATURE_DEFAULTS)}")
    spec = {**FEATURE_DEFAULTS, **given}
    for key in ("bigram", "lexicon", "lexicon_words", "gazetteer"):
        spec[key] = bool(spec[key])
    numbers = [k for k in FEATURE_DEFAULTS if k.endswith(("_dim", "_freq", "_len", "_k", "_folds"))]
    for key in numbers:
        spec[key] = int(spec[key])
        if spec[key] < 1:
            raise ValueError(f"features.{key} must be >= 1, got {spec[key]}")
    if spec["gazetteer_folds"] < 2:
        raise ValueError("features.gazetteer_folds must be >= 2 (train texts match other folds)")
    if spec["gazetteer_min_len"] > spec["gazetteer_max_len"]:
        raise ValueError("features.gazetteer_min_len must not exceed gazetteer_max_len")
    return spec


def features_enabled(features: Mapping[str, Any] | None) -> bool:
    """True when the ``features`` block asks for any input feature."""
    spec = normalize_features(features)
    return spec["bigram"] or spec["lexicon"] or spec["lexicon_words"] or spec["gazetteer"]


def _asset_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {key: spec[key] for key in ASSET_KEYS}


# --------------------------------------------------------------------------- bigrams


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
        (b for b, n in counts.items() if n >= min_freq and b not in BIGRAM_SPECIALS),
        key=lambda b: (-counts[b], b),
    )
    return list(BIGRAM_SPECIALS) + kept


# --------------------------------------------------------------------------- lexicon


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
            word = _lower(parts[0])
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


def _lower(text: str) -> str:
    """Per-character lower case that never changes the length (``İ`` stays ``İ``)."""
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


class Lexicon:
    """A word -> class mapping and the per-character BMES match bits of a text."""

    def __init__(self, words: Mapping[str, str], max_len: int) -> None:
        unknown = {c for c in words.values() if c not in WORD_CLASSES}
        if unknown:
            raise ValueError(f"unknown word classes {sorted(unknown)}; known: {WORD_CLASSES}")
        self.max_len = int(max_len)
        self.words = {_lower(w): c for w, c in words.items() if 0 < len(w) <= self.max_len}

    def __len__(self) -> int:
        return len(self.words)

    def matches(self, text: str) -> list[tuple[int, int, str]]:
        """Every lexicon word in ``text`` as ``(start, end_exclusive, class)``."""
        lowered = _lower(text)
        found = []
        n = len(lowered)
        for start in range(n):
            for end in range(start + 1, min(n, start + self.max_len) + 1):
                word_cls = self.words.get(lowered[start:end])
                if word_cls is not None:
                    found.append((start, end, word_cls))
        return found

    def match_sets(self, text: str) -> list[dict[str, set[str]]]:
        """Per character, the matched words by position ``{"B"|"M"|"E"|"S": {word, ...}}``."""
        sets: list[dict[str, set[str]]] = [{p: set() for p in POSITIONS} for _ in text]
        for start, end, _ in self.matches(text):
            word = text[start:end]
            if end - start == 1:
                sets[start]["S"].add(word)
                continue
            sets[start]["B"].add(word)
            sets[end - 1]["E"].add(word)
            for inside in range(start + 1, end - 1):
                sets[inside]["M"].add(word)
        return sets

    def char_bits(self, text: str, matches: list[tuple[int, int, str]] | None = None) -> list[int]:
        """Per character, the ``int64`` bit set of its matches (see the module docstring)."""
        bits = [0] * len(text)
        for start, end, word_cls in self.matches(text) if matches is None else matches:
            length = end - start
            if length == 1:
                bits[start] |= 1 << BIT_INDEX[("S", word_cls)]
                continue
            roles = [(start, "B"), (end - 1, "E")] + [(i, "M") for i in range(start + 1, end - 1)]
            for char, position in roles:
                bucket = min(length, LENGTH_BUCKETS[position][-1])
                bits[char] |= 1 << BIT_INDEX[(position, word_cls)]
                bits[char] |= 1 << BIT_INDEX[(position, f"len{bucket}")]
        return bits


def unpack_bits(bits: torch.Tensor, n_bits: int = LEXICON_BITS) -> torch.Tensor:
    """``int64 [...]`` bit sets -> float multi-hot ``[..., n_bits]``."""
    shifts = torch.arange(n_bits, device=bits.device)
    return ((bits[..., None] >> shifts) & 1).float()


# --------------------------------------------------------------------------- gazetteer

BITS_PER_WORD = 62
"""Bits stored per ``int64`` column of a gazetteer bit tensor (sign bit left alone)."""


def text_digest(text: str) -> str:
    """Short sha1 of a text: how the gazetteer recognises a train text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


class Gazetteer:
    """Entity strings of the train records per type, with the folds that annotated them.

    ``entries``: ``{lower-cased string: {type: [fold, ...]}}``; ``train_folds``:
    ``{text_digest(train text): fold}``. :meth:`matches` of a train text ignores the
    strings only its own fold annotated (see the module docstring).
    """

    def __init__(
        self,
        types: list[str],
        entries: Mapping[str, Mapping[str, Iterable[int]]],
        train_folds: Mapping[str, int],
        min_len: int,
        max_len: int,
    ) -> None:
        self.types = list(types)
        self.type_index = {t: i for i, t in enumerate(self.types)}
        self.entries = {
            word: {t: frozenset(folds) for t, folds in per_type.items()}
            for word, per_type in entries.items()
        }
        unknown = {t for per_type in self.entries.values() for t in per_type} - set(self.types)
        if unknown:
            raise ValueError(f"gazetteer entries of unknown types {sorted(unknown)}")
        self.train_folds = dict(train_folds)
        self.min_len, self.max_len = int(min_len), int(max_len)

    @classmethod
    def from_records(
        cls, records: Iterable[Any], folds: int, min_len: int, max_len: int
    ) -> Gazetteer:
        """The gazetteer of train records (``.text`` and ``.spans``, end inclusive)."""
        entries: dict[str, dict[str, set[int]]] = {}
        train_folds: dict[str, int] = {}
        types: list[str] = []
        for index, record in enumerate(records):
            fold = train_folds.setdefault(text_digest(record.text), index % folds)
            for span in record.spans:
                if span.label not in types:
                    types.append(span.label)
                word = _lower(record.text[span.start : span.end + 1])
                if min_len <= len(word) <= max_len:
                    entries.setdefault(word, {}).setdefault(span.label, set()).add(fold)
        return cls(sorted(types), entries, train_folds, min_len, max_len)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def n_bits(self) -> int:
        return 4 * len(self.types)

    @property
    def n_words(self) -> int:
        """``int64`` columns of :meth:`char_bits` tensors."""
        return max(1, -(-self.n_bits // BITS_PER_WORD))

    def matches(self, text: str) -> list[tuple[int, int, str]]:
        """Gazetteer strings in ``text`` as ``(start, end_exclusive, type)``; a train text
        only matches strings annotated outside its own fold."""
        own_fold = self.train_folds.get(text_digest(text))
        lowered = _lower(text)
        found = []
        n = len(lowered)
        for start in range(n):
            for end in range(start + self.min_len, min(n, start + self.max_len) + 1):
                per_type = self.entries.get(lowered[start:end])
                if per_type is None:
                    continue
                for entity_type, folds in per_type.items():
                    if own_fold is None or folds - {own_fold}:
                        found.append((start, end, entity_type))
        return found

    def char_bits(self, text: str) -> torch.Tensor:
        """``LongTensor [len(text), n_words]``: per character, bit ``4 * type + p`` set
        for each match of that type where it stands at position p (B, M, E, S)."""
        bits = [0] * len(text)
        for start, end, entity_type in self.matches(text):
            base = 4 * self.type_index[entity_type]
            if end - start == 1:
                bits[start] |= 1 << (base + 3)
                continue
            bits[start] |= 1 << base
            bits[end - 1] |= 1 << (base + 2)
            for inside in range(start + 1, end - 1):
                bits[inside] |= 1 << (base + 1)
        mask = (1 << BITS_PER_WORD) - 1
        rows = [
            [(value >> (BITS_PER_WORD * w)) & mask for w in range(self.n_words)] for value in bits
        ]
        return torch.tensor(rows, dtype=torch.long).reshape(len(text), self.n_words)

    def to_json(self) -> dict[str, Any]:
        return {
            "types": self.types,
            "min_len": self.min_len,
            "max_len": self.max_len,
            "entries": {
                word: {t: sorted(folds) for t, folds in sorted(per_type.items())}
                for word, per_type in sorted(self.entries.items())
            },
            "train_folds": dict(sorted(self.train_folds.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Gazetteer:
        return cls(
            data["types"], data["entries"], data["train_folds"], data["min_len"], data["max_len"]
        )


def unpack_bit_words(words: torch.Tensor, n_bits: int) -> torch.Tensor:
    """``int64 [..., n_words]`` (:data:`BITS_PER_WORD` bits each) -> float ``[..., n_bits]``."""
    shifts = torch.arange(BITS_PER_WORD, device=words.device)
    unpacked = ((words[..., None] >> shifts) & 1).flatten(-2)
    return unpacked[..., :n_bits].float()


# --------------------------------------------------------------------------- featurizer


class Featurizer:
    """Computes the per-token feature tensors of one feature spec from its saved assets.

    Tensor names (the keyword arguments models receive): ``bigram_ids`` (``LongTensor
    [n, 2]``: left and right bigram ids), ``lexicon_bits`` (``LongTensor [n]``) and
    ``lexicon_word_ids`` (``LongTensor [n, 3, lexicon_word_k]``: B, M, E word ids, 0-padded)
    and ``gazetteer_bits`` (``LongTensor [n, n_words]``, see :class:`Gazetteer`).
    """

    def __init__(
        self,
        features: Mapping[str, Any] | None,
        bigram_vocab: list[str] | None = None,
        lexicon: Lexicon | None = None,
        word_vocab: list[str] | None = None,
        gazetteer: Gazetteer | None = None,
    ) -> None:
        self.spec = normalize_features(features)
        if self.spec["gazetteer"] and gazetteer is None:
            raise ValueError("gazetteer feature requested without a gazetteer")
        if self.spec["bigram"] and bigram_vocab is None:
            raise ValueError("bigram feature requested without a bigram vocabulary")
        uses_lexicon = self.spec["lexicon"] or self.spec["lexicon_words"]
        if uses_lexicon and lexicon is None:
            raise ValueError("lexicon feature requested without a lexicon")
        if self.spec["lexicon_words"] and word_vocab is None:
            raise ValueError("lexicon word feature requested without a word vocabulary")
        self.bigram_vocab = bigram_vocab if self.spec["bigram"] else None
        self.bigram_index = {b: i for i, b in enumerate(self.bigram_vocab or [])}
        self.lexicon = lexicon if uses_lexicon else None
        self.word_vocab = word_vocab if self.spec["lexicon_words"] else None
        self.word_index = {w: i for i, w in enumerate(self.word_vocab or [])}
        self.gazetteer = gazetteer if self.spec["gazetteer"] else None
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ sizes

    @property
    def tensor_names(self) -> list[str]:
        names = []
        if self.spec["bigram"]:
            names.append("bigram_ids")
        if self.spec["lexicon"]:
            names.append("lexicon_bits")
        if self.spec["lexicon_words"]:
            names.append("lexicon_word_ids")
        if self.spec["gazetteer"]:
            names.append("gazetteer_bits")
        return names

    @property
    def bigram_vocab_size(self) -> int:
        return len(self.bigram_vocab or [])

    @property
    def lexicon_bits(self) -> int:
        return LEXICON_BITS if self.spec["lexicon"] else 0

    @property
    def word_vocab_size(self) -> int:
        return len(self.word_vocab or [])

    @property
    def gazetteer_bits(self) -> int:
        return self.gazetteer.n_bits if self.gazetteer is not None else 0

    # ------------------------------------------------------------------ features

    def char_features(self, text: str) -> dict[str, torch.Tensor]:
        """Per-character features of a FULL text: ``{name: tensor [len(text), ...]}``."""
        out: dict[str, torch.Tensor] = {}
        if self.bigram_vocab is not None:
            ids = [self.bigram_index.get(b, UNK_ID) for b in text_bigrams(text)]
            pairs = [[ids[i], ids[i + 1]] for i in range(len(text))]
            out["bigram_ids"] = torch.tensor(pairs, dtype=torch.long).reshape(len(text), 2)
        if self.lexicon is not None:
            matches = self.lexicon.matches(text)
            if self.spec["lexicon"]:
                bits = self.lexicon.char_bits(text, matches)
                out["lexicon_bits"] = torch.tensor(bits, dtype=torch.long)
            if self.word_vocab is not None:
                out["lexicon_word_ids"] = self._word_ids(text, matches)
        if self.gazetteer is not None:
            out["gazetteer_bits"] = self.gazetteer.char_bits(text)
        return out

    def _word_ids(self, text: str, matches: list[tuple[int, int, str]]) -> torch.Tensor:
        k = self.spec["lexicon_word_k"]
        sets: list[list[list[str]]] = [[[], [], []] for _ in text]
        for start, end, _ in matches:
            if end - start < 2:
                continue
            word = _lower(text[start:end])
            sets[start][0].append(word)
            sets[end - 1][2].append(word)
            for inside in range(start + 1, end - 1):
                sets[inside][1].append(word)
        ids = torch.zeros((len(text), 3, k), dtype=torch.long)
        for char, per_position in enumerate(sets):
            for position, words in enumerate(per_position):
                chosen = sorted(words, key=lambda w: (-len(w), w))[:k]
                for slot, word in enumerate(chosen):
                    ids[char, position, slot] = self.word_index.get(word, UNK_ID)
        return ids

    def token_features(
        self, tok: Any, char_feats: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Gather per-character features onto the tokens of ``tok`` (a ``TokenizedText``).

        A token takes the features of its first character; special tokens get zeros.
        """
        special = tok.special or [offset == (0, 0) for offset in tok.offsets]
        index = torch.tensor(
            [
                0 if is_special else int(start)
                for (start, _), is_special in zip(tok.offsets, special, strict=True)
            ],
            dtype=torch.long,
        )
        keep = ~torch.tensor(special, dtype=torch.bool)
        out: dict[str, torch.Tensor] = {}
        for name, values in char_feats.items():
            if values.size(0) == 0:
                shape = (len(tok.offsets), *values.shape[1:])
                out[name] = torch.zeros(shape, dtype=values.dtype)
                continue
            gathered = values[index.clamp(max=values.size(0) - 1)]
            mask = keep.reshape(-1, *([1] * (gathered.ndim - 1)))
            out[name] = torch.where(mask, gathered, torch.zeros_like(gathered))
        return out

    def encode(self, text: str, tok: Any) -> dict[str, torch.Tensor]:
        """``token_features(tok, char_features(text))`` (``tok`` tokenises ``text``)."""
        return self.token_features(tok, self.char_features(text))

    # ------------------------------------------------------------------ io

    def fingerprint(self) -> str:
        """sha256 of the asset spec, the bigram vocabulary and the lexicon."""
        if self._fingerprint is None:
            digest = hashlib.sha256(json.dumps(_asset_spec(self.spec), sort_keys=True).encode())
            digest.update(json.dumps(self.bigram_vocab, ensure_ascii=False).encode())
            if self.lexicon is not None:
                digest.update(_lexicon_bytes(self.lexicon.words))
            if self.word_vocab is not None:
                digest.update(json.dumps(self.word_vocab, ensure_ascii=False).encode())
            if self.gazetteer is not None:
                digest.update(_gazetteer_bytes(self.gazetteer))
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """JSON-able summary stored in cache and model metadata."""
        return {
            "spec": _asset_spec(self.spec),
            "fingerprint": self.fingerprint(),
            "bigram_vocab_size": self.bigram_vocab_size,
            "lexicon_words": len(self.lexicon) if self.lexicon is not None else 0,
            "lexicon_bits": self.lexicon_bits,
            "word_vocab_size": self.word_vocab_size,
            "gazetteer_strings": len(self.gazetteer) if self.gazetteer is not None else 0,
            "gazetteer_bits": self.gazetteer_bits,
        }

    def save(self, out_dir: str | Path) -> Path:
        """Write the spec and assets into ``out_dir`` (see the module docstring)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in (BIGRAM_FILE, LEXICON_FILE, WORDS_FILE, GAZETTEER_FILE):
            (out / name).unlink(missing_ok=True)
        if self.bigram_vocab is not None:
            (out / BIGRAM_FILE).write_text(
                json.dumps(self.bigram_vocab, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        if self.lexicon is not None:
            with open(out / LEXICON_FILE, "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
                    handle.write(_lexicon_bytes(self.lexicon.words))
        if self.word_vocab is not None:
            (out / WORDS_FILE).write_text(
                json.dumps(self.word_vocab, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        if self.gazetteer is not None:
            (out / GAZETTEER_FILE).write_bytes(_gazetteer_bytes(self.gazetteer))
        (out / SPEC_FILE).write_text(
            json.dumps({**self.spec, "fingerprint": self.fingerprint()}, indent=2, sort_keys=True)
            + "\n",
            encoding="utf-8",
        )
        return out

    @classmethod
    def load(cls, directory: str | Path, features: Mapping[str, Any] | None = None) -> Featurizer:
        """Load the assets saved in ``directory``.

        With ``features``, the saved spec must agree with it on every setting the assets
        depend on (``ValueError`` otherwise: rebuild the assets); its other settings (the
        model's ``*_dim`` sizes) are taken from ``features``.
        """
        folder = Path(directory)
        spec_path = folder / SPEC_FILE
        if not spec_path.exists():
            raise FileNotFoundError(
                f"{folder}: no {SPEC_FILE}; build the assets with build_feature_assets"
            )
        saved = json.loads(spec_path.read_text(encoding="utf-8"))
        saved.pop("fingerprint", None)
        spec = normalize_features(saved)
        if features is not None:
            wanted = _asset_spec(normalize_features(features))
            if wanted != _asset_spec(spec):
                raise ValueError(
                    f"{folder}: feature assets were built for {_asset_spec(spec)}, "
                    f"the experiment wants {wanted}"
                )
            spec = normalize_features(features)
        vocab = None
        if spec["bigram"]:
            vocab = json.loads((folder / BIGRAM_FILE).read_text(encoding="utf-8"))
        lexicon = None
        if spec["lexicon"] or spec["lexicon_words"]:
            lexicon = Lexicon(_read_lexicon(folder / LEXICON_FILE), spec["lexicon_max_len"])
        words = None
        if spec["lexicon_words"]:
            words = json.loads((folder / WORDS_FILE).read_text(encoding="utf-8"))
        gazetteer = None
        if spec["gazetteer"]:
            data = json.loads((folder / GAZETTEER_FILE).read_text(encoding="utf-8"))
            gazetteer = Gazetteer.from_json(data)
        return cls(spec, vocab, lexicon, words, gazetteer)


def _gazetteer_bytes(gazetteer: Gazetteer) -> bytes:
    return (json.dumps(gazetteer.to_json(), ensure_ascii=False, sort_keys=True) + "\n").encode()


def _lexicon_bytes(words: Mapping[str, str]) -> bytes:
    buffer = io.StringIO()
    for word in sorted(words):
        buffer.write(f"{word}\t{words[word]}\n")
    return buffer.getvalue().encode("utf-8")


@lru_cache(maxsize=4)
def _read_lexicon_cached(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip("\n")]
    return tuple((word, cls) for word, cls in rows)


def _read_lexicon(path: Path) -> dict[str, str]:
    stat = path.stat()
    return dict(_read_lexicon_cached(str(path), stat.st_mtime_ns, stat.st_size))


# --------------------------------------------------------------------------- assets


def build_featurizer(
    train_texts: Iterable[str],
    features: Mapping[str, Any] | None,
    train_records: Sequence[Any] | None = None,
) -> Featurizer:
    """A featurizer whose bigram vocabulary comes from ``train_texts`` (train ONLY).

    The lexicon is ``features["lexicon_path"]`` (a jieba-format word list) or, by
    default, jieba's own dictionary. The gazetteer needs the annotated ``train_records``
    (:class:`nerflow.records.Record`, in file order: it decides the folds).
    """
    spec = normalize_features(features)
    train_texts_list = list(train_texts)
    gazetteer = None
    if spec["gazetteer"]:
        if train_records is None:
            raise ValueError("the gazetteer feature needs the annotated train records")
        gazetteer = Gazetteer.from_records(
            train_records,
            spec["gazetteer_folds"],
            spec["gazetteer_min_len"],
            spec["gazetteer_max_len"],
        )
    vocab = None
    if spec["bigram"]:
        vocab = build_bigram_vocab(train_texts_list, spec["bigram_min_freq"])
    lexicon = None
    words = None
    if spec["lexicon"] or spec["lexicon_words"]:
        path = spec["lexicon_path"] or jieba_dictionary_path()
        lexicon = Lexicon(read_word_list(path, spec["lexicon_max_len"]), spec["lexicon_max_len"])
    if spec["lexicon_words"]:
        assert lexicon is not None
        words = build_word_vocab(train_texts_list, lexicon, spec["lexicon_word_min_freq"])
    return Featurizer(spec, vocab, lexicon, words, gazetteer)


def build_word_vocab(texts: Iterable[str], lexicon: Lexicon, min_freq: int = 1) -> list[str]:
    """``[PAD]``, ``[UNK]``, then the multi-character lexicon words matched in ``texts``
    ``min_freq`` times or more (lower-cased, by frequency)."""
    counts: Counter[str] = Counter()
    for text in texts:
        lowered = _lower(text)
        counts.update(lowered[s:e] for s, e, _ in lexicon.matches(text) if e - s >= 2)
    kept = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
    return list(BIGRAM_SPECIALS) + [w for w in kept if w not in BIGRAM_SPECIALS]


def build_feature_assets(
    train_texts: Iterable[str],
    features: Mapping[str, Any] | None,
    out_dir: str | Path,
    train_records: Sequence[Any] | None = None,
) -> Featurizer | None:
    """Build the feature assets of an experiment from the TRAIN texts (and, for the
    gazetteer, the train records) into ``out_dir``.

    The workflow calls it on the experiment's tokenizer folder. No-op (returns None)
    when the ``features`` block enables nothing.
    """
    if not features_enabled(features):
        return None
    featurizer = build_featurizer(train_texts, features, train_records)
    featurizer.save(out_dir)
    return featurizer


def load_featurizer(
    features: Mapping[str, Any] | None, feature_dir: str | Path | None
) -> Featurizer | None:
    """The featurizer of a ``features`` block from ``feature_dir`` (None when no features)."""
    if not features_enabled(features):
        return None
    if feature_dir is None or not str(feature_dir):
        raise ValueError("features are enabled but no feature_dir holds their assets")
    return Featurizer.load(feature_dir, features)


def has_feature_assets(directory: str | Path) -> bool:
    return (Path(directory) / SPEC_FILE).exists()
