"""Which tag moves a tagging scheme allows: the CRF's transition constraints.

Impossible transitions of a scheme (``O -> I-X``, ``B-X -> I-Y``, a BIOES entity left
open, a one-position BIOS entity written ``B``, ...) are derived from the strict checker
:func:`nerflow.text.tagging.is_valid_sequence`, not written by hand, so the constrained CRF
(:mod:`nerflow.models.crf`) never yields a sequence that the checker rejects.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache

import numpy as np

from nerflow.text.tagging import check_scheme, is_valid_sequence, label_list, parse_tag


@cache
def _allowed_patterns(scheme: str) -> tuple[frozenset, frozenset, frozenset]:
    """Allowed (start, transition, end) patterns of ``scheme``, found with the strict checker.

    Patterns abstract over entity types: a start/end pattern is a prefix, a transition
    pattern is ``(prefix_a, prefix_b, same_type)``. Each is allowed when some short valid
    sequence over two synthetic types exhibits it (one tag of context either side is
    enough for BIO, BIOS and BIOES, whose validity is first-order).
    """
    tags = label_list(["X", "Y"], scheme)
    context: list[list[str]] = [[]] + [[tag] for tag in tags]
    starts: set[str] = set()
    ends: set[str] = set()
    transitions: set[tuple[str, str, bool]] = set()
    for a in tags:
        for after in context:
            if is_valid_sequence([a, *after], scheme):
                starts.add(parse_tag(a)[0])
            if is_valid_sequence([*after, a], scheme):
                ends.add(parse_tag(a)[0])
    for a, b in itertools.product(tags, repeat=2):
        key = _pattern(a, b)
        if key in transitions:
            continue
        if any(
            is_valid_sequence([*before, a, b, *after], scheme)
            for before in context
            for after in context
        ):
            transitions.add(key)
    return frozenset(starts), frozenset(transitions), frozenset(ends)


def _pattern(a: str, b: str) -> tuple[str, str, bool]:
    (prefix_a, type_a), (prefix_b, type_b) = parse_tag(a), parse_tag(b)
    return prefix_a, prefix_b, type_a is not None and type_a == type_b


def allowed_transitions(
    labels: Sequence[str], scheme: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks ``(start [C], transitions [C, C], end [C])`` of allowed tag moves.

    ``transitions[i, j]`` is True when label ``j`` may follow label ``i``. A tag sequence
    is valid for ``scheme`` exactly when its first tag is an allowed start, every adjacent
    pair an allowed transition and its last tag an allowed end.
    """
    check_scheme(scheme)
    starts, transitions, ends = _allowed_patterns(scheme)
    prefixes = [parse_tag(label)[0] for label in labels]
    start = np.array([p in starts for p in prefixes], dtype=bool)
    end = np.array([p in ends for p in prefixes], dtype=bool)
    trans = np.array(
        [[_pattern(a, b) in transitions for b in labels] for a in labels], dtype=bool
    ).reshape(len(labels), len(labels))
    return start, trans, end
