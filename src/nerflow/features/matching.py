"""Dictionary matching on character offsets, shared by the lexicon and the gazetteer.

Both look every short substring of a text up in a table of lower-cased strings and mark
the characters of each match by their role in it: B (first), M (inside), E (last) or S (a
one-character match). Case is folded character by character, so offsets never move.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator

POSITIONS: tuple[str, ...] = ("B", "M", "E", "S")


def lower_chars(text: str) -> str:
    """Per-character lower case that never changes the length (``İ`` stays ``İ``)."""
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def proper_prefixes(keys: Iterable[str]) -> frozenset[str]:
    """Every prefix of every key that is shorter than the key: the substrings worth
    extending by one more character (:func:`substrings`)."""
    return frozenset(key[:i] for key in keys for i in range(1, len(key)))


def substrings(
    lowered: str, min_len: int, max_len: int, prefixes: Container[str] | None = None
) -> Iterator[tuple[int, int, str]]:
    """Every ``(start, end_exclusive, lowered[start:end])`` of ``min_len`` to ``max_len``
    characters, by start then end. With the :func:`proper_prefixes` of a table's keys, a
    start stops at its first substring that no key goes on from: every key in ``lowered``
    is still among them, for a few lookups per character instead of ``max_len``."""
    n = len(lowered)
    for start in range(n):
        for end in range(start + 1, min(n, start + max_len) + 1):
            piece = lowered[start:end]
            if end - start >= min_len:
                yield start, end, piece
            if prefixes is not None and piece not in prefixes:
                break


def bmes_roles(start: int, end: int) -> list[tuple[int, str]]:
    """The characters of the match ``[start, end)``, each with its position (B, M, E, S)."""
    if end - start == 1:
        return [(start, "S")]
    return [(start, "B"), *((i, "M") for i in range(start + 1, end - 1)), (end - 1, "E")]
