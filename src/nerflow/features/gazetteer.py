"""Train-entity gazetteer (``features.gazetteer``).

The entity strings annotated in the TRAIN records, per type. Every gazetteer string found
in a text marks its characters with type-specific B/M/E/S bits (``4 * n_types`` bits). A
gazetteer built from the same records the model trains on would always be right on them,
and the model would learn to trust it blindly; so the train records are split into
``gazetteer_folds`` folds (record ``i`` in fold ``i % folds``) and a TRAIN text only sees
the strings annotated in the OTHER folds (recognised by its sha1, stored with the
assets), the way cross-validated features are made for stacking. Any other text (dev,
test, a new document) sees every string. On CLUENER 62% of dev mentions are a train
string of the same type; out-of-fold matching teaches the model how far to trust that.
Strings shorter than ``gazetteer_min_len`` or longer than ``gazetteer_max_len`` are not
matched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from nerflow.features.matching import POSITIONS, bmes_roles, lower_chars, substrings

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
                word = lower_chars(record.text[span.start : span.end + 1])
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
        found = []
        for start, end, word in substrings(lower_chars(text), self.min_len, self.max_len):
            per_type = self.entries.get(word)
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
            for char, position in bmes_roles(start, end):
                bits[char] |= 1 << (base + POSITIONS.index(position))
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

    def to_bytes(self) -> bytes:
        """:meth:`to_json` as one sorted JSON line (the gazetteer asset)."""
        return (json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True) + "\n").encode()

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
