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
matched. The model takes the bits through a linear layer (``gazetteer_dim``). Asset:
``gazetteer.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nerflow.features.feature import InputFeature, Modules, Sizes, Tensors
from nerflow.features.matching import (
    POSITIONS,
    bmes_roles,
    lower_chars,
    proper_prefixes,
    substrings,
)
from nerflow.section import setting, size, switch

if TYPE_CHECKING:
    import torch
    from torch import nn

GAZETTEER_FILE = "gazetteer.json"

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

    @cached_property
    def prefixes(self) -> frozenset[str]:
        """:func:`~nerflow.features.matching.proper_prefixes` of the strings: with
        ``gazetteer_max_len`` 16 most starts stop after one or two lookups (3.4x faster on
        CLUENER dev; the lexicon, 8 characters at most and 0.35 M words, does not gain
        what building its prefixes costs)."""
        return proper_prefixes(self.entries)

    def matches(self, text: str) -> list[tuple[int, int, str]]:
        """Gazetteer strings in ``text`` as ``(start, end_exclusive, type)``; a train text
        only matches strings annotated outside its own fold."""
        own_fold = self.train_folds.get(text_digest(text))
        found = []
        lowered = lower_chars(text)
        for start, end, word in substrings(lowered, self.min_len, self.max_len, self.prefixes):
            per_type = self.entries.get(word)
            if per_type is None:
                continue
            for entity_type, folds in per_type.items():
                if own_fold is None or folds - {own_fold}:
                    found.append((start, end, entity_type))
        return found

    def char_bits(self, text: str) -> np.ndarray:
        """``int64 [len(text), n_words]``: per character, bit ``4 * type + p`` set
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
        return np.array(rows, dtype=np.int64).reshape(len(text), self.n_words)

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
    from nerflow.nn.bits import unpack_bits

    return unpack_bits(words, BITS_PER_WORD).flatten(-2)[..., :n_bits]


@dataclasses.dataclass(frozen=True)
class GazetteerSettings:
    """``features.gazetteer``: its folds, string lengths and embedding width."""

    gazetteer: bool = switch(
        "per-type BMES bits of train entity strings (out-of-fold for train texts)"
    )
    gazetteer_folds: int = setting(5, minimum=2)
    gazetteer_min_len: int = size(2)
    gazetteer_max_len: int = size(16)
    gazetteer_dim: int = size(32)


class GazetteerFeature(InputFeature):
    """Per-type BMES bits of the train entity strings (``gazetteer_bits``, ``LongTensor
    [n, n_words]``, see :class:`Gazetteer`), out of fold on train texts."""

    name = "gazetteer"
    Settings = GazetteerSettings
    tensors = {"gazetteer": "gazetteer_bits"}
    asset_keys = ("gazetteer", "gazetteer_folds", "gazetteer_min_len", "gazetteer_max_len")
    size_keys = ("gazetteer_bits", "gazetteer_dim")
    inputs = {"gazetteer": "gazetteer_bits"}

    def __init__(self, spec: Any, gazetteer: Gazetteer | None = None) -> None:
        super().__init__(spec)
        self.gazetteer = gazetteer if self.on else None

    @classmethod
    def check(cls, spec: Any) -> list[str]:
        problems = []
        if spec.gazetteer_folds < 2:
            problems.append("features.gazetteer_folds must be >= 2 (train texts match other folds)")
        if spec.gazetteer_min_len > spec.gazetteer_max_len:
            problems.append("features.gazetteer_min_len must not exceed gazetteer_max_len")
        return problems

    def build(self, train_texts: Sequence[str], train_records: Sequence[Any] | None) -> None:
        if not self.on:
            return
        if train_records is None:
            raise ValueError("the gazetteer feature needs the annotated train records")
        spec = self.spec
        self.gazetteer = Gazetteer.from_records(
            train_records, spec.gazetteer_folds, spec.gazetteer_min_len, spec.gazetteer_max_len
        )

    def save(self, folder: Path) -> None:
        (folder / GAZETTEER_FILE).unlink(missing_ok=True)
        if self.gazetteer is not None:
            (folder / GAZETTEER_FILE).write_bytes(self.gazetteer.to_bytes())

    def load(self, folder: Path) -> None:
        if self.on:
            data = json.loads((folder / GAZETTEER_FILE).read_text(encoding="utf-8"))
            self.gazetteer = Gazetteer.from_json(data)

    def update_fingerprint(self, digest: Any) -> None:
        if self.gazetteer is not None:
            digest.update(self.gazetteer.to_bytes())

    def describe(self) -> dict[str, Any]:
        gazetteer = self.gazetteer
        return {
            "gazetteer_strings": len(gazetteer) if gazetteer is not None else 0,
            "gazetteer_bits": gazetteer.n_bits if gazetteer is not None else 0,
        }

    def char_features(self, text: str, context: Any = None) -> dict[str, np.ndarray]:
        if self.gazetteer is None:
            return {}
        return {"gazetteer_bits": self.gazetteer.char_bits(text)}

    def sizes(self) -> dict[str, int]:
        bits = self.gazetteer.n_bits if self.gazetteer is not None else 0
        return {"gazetteer_bits": bits, "gazetteer_dim": self.spec.gazetteer_dim if bits else 0}

    @classmethod
    def modules(cls, sizes: Mapping[str, int]) -> list[tuple[str, nn.Module]]:
        from torch import nn

        if not sizes["gazetteer_bits"]:
            return []
        return [("gazetteer", nn.Linear(sizes["gazetteer_bits"], sizes["gazetteer_dim"]))]

    @classmethod
    def output_dim(cls, sizes: Mapping[str, int]) -> int:
        return sizes["gazetteer_dim"] if sizes["gazetteer_bits"] else 0

    @classmethod
    def embed(cls, modules: Modules, tensors: Tensors, sizes: Sizes) -> list[torch.Tensor]:
        if "gazetteer" not in modules:
            return []
        bits = unpack_bit_words(tensors["gazetteer_bits"], sizes["gazetteer_bits"])
        return [modules["gazetteer"](bits)]
