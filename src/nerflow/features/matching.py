"""Dictionary matching on character offsets, shared by the lexicon and the gazetteer.

Both look every short substring of a text up in a table of lower-cased strings and mark
the characters of each match by their role in it: B (first), M (inside), E (last) or S (a
one-character match). Case is folded character by character, so offsets never move.
"""

from __future__ import annotations

from collections.abc import Iterator

POSITIONS: tuple[str, ...] = ("B", "M", "E", "S")


def lower_chars(text: str) -> str:
    """Per-character lower case that never changes the length (``İ`` stays ``İ``)."""
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def substrings(lowered: str, min_len: int, max_len: int) -> Iterator[tuple[int, int, str]]:
    """Every ``(start, end_exclusive, lowered[start:end])`` of ``min_len`` to ``max_len``
    characters, by start then end."""
    n = len(lowered)
    for start in range(n):
        for end in range(start + min_len, min(n, start + max_len) + 1):
            yield start, end, lowered[start:end]


def bmes_roles(start: int, end: int) -> list[tuple[int, str]]:
    """The characters of the match ``[start, end)``, each with its position (B, M, E, S)."""
    if end - start == 1:
        return [(start, "S")]
    return [(start, "B"), *((i, "M") for i in range(start + 1, end - 1)), (end - 1, "E")]
