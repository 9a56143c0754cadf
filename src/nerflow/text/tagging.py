"""Tagging schemes: spans <-> per-position tags (BIO, BIOS, BIOES), and tag files.

Tags are ``"O"`` or ``"<P>-<type>"`` with prefix ``P`` in ``B`` (begin), ``I`` (inside),
``E`` (end) and ``S`` (single). The type is everything after the first ``-``.

Encoding (:func:`spans_to_tags`), per scheme:

=========  ===============  =====================
scheme     one position     several positions
=========  ===============  =====================
BIO        ``B``            ``B I ... I``
BIOS       ``S``            ``B I ... I``
BIOES      ``S``            ``B I ... I E``
=========  ===============  =====================

Decoding policy (:func:`tags_to_spans`) is LENIENT, in the spirit of conlleval, and
accepts the prefixes of every scheme whatever ``scheme`` is given (so ``S``/``E`` tags
predicted under BIO still decode). Reading left to right, with at most one open entity:

- ``O`` closes the open entity.
- ``B-X`` closes the open entity and opens an ``X`` entity here.
- ``I-X`` continues the open entity if it is an ``X``; otherwise (nothing open, or an
  entity of another type) it closes what is open and opens an ``X`` entity here. So an
  orphan ``I-X`` starts an entity, and ``B-X I-Y`` gives a one-position ``X`` then a
  ``Y`` starting at the ``I-Y``.
- ``E-X`` ends the open entity here if it is an ``X``; otherwise it closes what is open
  and makes a one-position ``X`` entity here.
- ``S-X`` closes the open entity and makes a one-position ``X`` entity here.
- The end of the sequence closes the open entity.

Any other tag string raises ``ValueError``. :func:`is_valid_sequence` is the STRICT
check (only the scheme's own prefixes, no orphan ``I``/``E``, no type change inside an
entity, single positions as ``S`` in BIOS/BIOES, every BIOES entity closed by ``E``):
a sequence is valid exactly when it is the canonical encoding of the spans it decodes to.

Tag files (:func:`write_tag_file` / :func:`read_tag_file`) are UTF-8 text, one
``char<TAB>tag`` line per character and one blank line after every record (an empty text
is just the blank line). A character is written as itself unless it is whitespace, not
printable (``str.isprintable``) or a backslash: those are written as ``\\uXXXX`` (or
``\\UXXXXXXXX`` above U+FFFF), lower-case hex, e.g. a space is ``\\u0020`` and a tab
``\\u0009``. A literal character field is always exactly one character long, so the
two forms never collide and files round-trip exactly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, get_args

from nerflow.data.records import Span
from nerflow.data.spans import overlapping_pairs

Scheme = Literal["BIO", "BIOS", "BIOES"]
SCHEMES: tuple[str, ...] = get_args(Scheme)
"""The tagging schemes, by name (the ``tagging.scheme`` setting)."""

_PREFIXES = {"BIO": ("B", "I"), "BIOS": ("B", "I", "S"), "BIOES": ("B", "I", "E", "S")}
_TAG = re.compile(r"^([BIES])-(.+)$", re.DOTALL)
_ESCAPE = re.compile(r"^\\(u[0-9a-f]{4}|U[0-9a-f]{8})$")


def check_scheme(scheme: str) -> str:
    """Return ``scheme`` if it is one of :data:`SCHEMES`, else raise ``ValueError``."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tagging scheme {scheme!r}; expected one of {SCHEMES}")
    return scheme


@functools.lru_cache(maxsize=4096)  # a label set has few tags; decoding parses each often
def parse_tag(tag: str) -> tuple[str, str | None]:
    """Split a tag into ``(prefix, type)``; ``"O"`` gives ``("O", None)``."""
    if tag == "O":
        return "O", None
    match = _TAG.match(tag) if isinstance(tag, str) else None
    if match is None:
        raise ValueError(f"unknown tag {tag!r}: expected 'O' or '<B|I|E|S>-<type>'")
    return match.group(1), match.group(2)


def label_list(types: Sequence[str], scheme: str) -> list[str]:
    """All tags of ``scheme`` for ``types``: ``"O"``, then per type (sorted) B, I, [E], [S]."""
    check_scheme(scheme)
    order = [p for p in ("B", "I", "E", "S") if p in _PREFIXES[scheme]]
    return ["O"] + [f"{prefix}-{t}" for t in sorted(set(types)) for prefix in order]


def label_types(labels: Sequence[str]) -> list[str]:
    """Entity types named by a label list, in first-seen order (the inverse of
    :func:`label_list`): the type order of span heads."""
    types = (parse_tag(label)[1] for label in labels)
    return list(dict.fromkeys(t for t in types if t is not None))


def spans_to_tags(n_chars: int, spans: Sequence[Span], scheme: str) -> list[str]:
    """Encode non-overlapping spans over ``n_chars`` positions (see the module table)."""
    check_scheme(scheme)
    ordered = sorted(spans)
    bad = [s for s in ordered if not 0 <= s.start <= s.end < n_chars]
    if bad:
        raise ValueError(f"spans out of range for {n_chars} positions: {bad}")
    clashes = list(overlapping_pairs(ordered))
    if clashes:
        raise ValueError(f"overlapping spans cannot be tagged: {clashes}")
    tags = ["O"] * n_chars
    for span in ordered:
        if span.start == span.end:
            tags[span.start] = ("B-" if scheme == "BIO" else "S-") + span.label
            continue
        tags[span.start] = "B-" + span.label
        for i in range(span.start + 1, span.end + 1):
            tags[i] = "I-" + span.label
        if scheme == "BIOES":
            tags[span.end] = "E-" + span.label
    return tags


def tags_to_spans(tags: Sequence[str], scheme: str) -> list[Span]:
    """Decode tags to spans with the lenient policy of the module docstring."""
    check_scheme(scheme)
    spans: list[Span] = []
    start: int | None = None
    open_type: str | None = None

    def close(end: int) -> None:
        nonlocal start, open_type
        if start is not None and open_type is not None:
            spans.append(Span(start, end, open_type))
        start, open_type = None, None

    for i, tag in enumerate(tags):
        prefix, entity_type = parse_tag(tag)
        continues = start is not None and open_type == entity_type
        if prefix == "O":
            close(i - 1)
        elif prefix == "B" or (prefix == "I" and not continues):
            close(i - 1)
            start, open_type = i, entity_type
        elif prefix == "E" and continues:
            close(i)
        elif prefix in ("E", "S"):
            close(i - 1)
            spans.append(Span(i, i, entity_type))  # type: ignore[arg-type]
        # else: I-X continuing an open X entity
    close(len(tags) - 1)
    return spans


def is_valid_sequence(tags: Sequence[str], scheme: str) -> bool:
    """Strict check: ``tags`` is exactly the ``scheme`` encoding of the spans it denotes."""
    check_scheme(scheme)
    try:
        prefixes = [parse_tag(tag)[0] for tag in tags]
        if any(p != "O" and p not in _PREFIXES[scheme] for p in prefixes):
            return False
        return list(tags) == spans_to_tags(len(tags), tags_to_spans(tags, scheme), scheme)
    except ValueError:
        return False


def escape_char(char: str) -> str:
    """One character as written in a tag file (see the module docstring)."""
    if len(char) != 1:
        raise ValueError(f"expected one character, got {char!r}")
    if char.isprintable() and not char.isspace() and char != "\\":
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def unescape_char(field: str) -> str:
    """Inverse of :func:`escape_char`."""
    if len(field) == 1:
        return field
    match = _ESCAPE.match(field)
    if match is None:
        raise ValueError(f"bad character field {field!r} in tag file")
    return chr(int(match.group(1)[1:], 16))


def write_tag_file(path: str | Path, records: Iterable[tuple[str, list[str]]]) -> int:
    """Write ``(text, tags)`` records as a tag file; return the number of records."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for text, tags in records:
            if len(tags) != len(text):
                raise ValueError(f"record {count}: {len(text)} characters but {len(tags)} tags")
            for char, tag in zip(text, tags, strict=True):
                parse_tag(tag)
                if any(c in tag for c in "\t\n\r"):
                    raise ValueError(f"record {count}: tag {tag!r} holds a tab or line break")
                handle.write(f"{escape_char(char)}\t{tag}\n")
            handle.write("\n")
            count += 1
    return count


def read_tag_file(path: str | Path) -> list[tuple[str, list[str]]]:
    """Read a tag file written by :func:`write_tag_file` back into ``(text, tags)``."""
    with open(path, encoding="utf-8", newline="") as handle:
        content = handle.read()
    records: list[tuple[str, list[str]]] = []
    chars: list[str] = []
    tags: list[str] = []
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line break
    for number, line in enumerate(lines, start=1):
        if line == "":
            records.append(("".join(chars), tags))
            chars, tags = [], []
            continue
        field, sep, tag = line.partition("\t")
        if not sep:
            raise ValueError(f"{path}:{number}: expected 'char<TAB>tag', got {line!r}")
        parse_tag(tag)
        chars.append(unescape_char(field))
        tags.append(tag)
    if chars:
        raise ValueError(f"{path}: last record is not terminated by a blank line")
    return records
