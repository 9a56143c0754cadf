"""Spans against their text and against each other: the span checks, the overlap policy
and the one list of reasons they give.

A span of a CLUENER ``label`` is a type, a key (the entity string) and a ``[start, end]``
position, ``end`` inclusive (see :mod:`nerflow.data.records`). Against its text a span can be
reversed, reach outside the text, or cover characters that are not its key
(:func:`span_fault`); these are the faults the validation stage
(:mod:`nerflow.data.validate`) rejects and the text check of predictions
(:mod:`nerflow.data.textcheck`) reports, under the names of :data:`REASONS`.

Against each other, spans of one record may overlap (nested or crossing). Flat tags
(:mod:`nerflow.text.tagging`) cannot hold both of an overlapping pair, so an overlap is
either a fault (policy ``fail``) or resolved by keeping a non-overlapping subset
(:func:`resolve_overlaps`, policies ``keep_longest`` and ``keep_first``). Tagging-time
removal (:func:`remove_overlaps`, used before gold spans become tags) is ``keep_first``.

Predicted spans (the span head, ensemble votes) carry a weight instead: the flat decoding
policy keeps the non-overlapping subset of highest total weight (:func:`best_flat_spans`).
The ``span_decoding`` of an experiment says whether to (``flat``), not to (``nested``) or to
decide from the nesting of the training data (``auto``, :func:`resolve_span_decoding` on the
counts of :func:`nesting`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence

from nerflow.data.records import Span

SPAN_REVERSED = "span_reversed"
SPAN_OUT_OF_RANGE = "span_out_of_range"
SPAN_KEY_MISMATCH = "span_key_mismatch"
OVERLAP = "overlap"

REASONS: tuple[tuple[str, str], ...] = (
    (SPAN_REVERSED, "start > end"),
    (SPAN_OUT_OF_RANGE, "the span reaches outside its text"),
    (SPAN_KEY_MISMATCH, "the text at the span's offsets is not the span's key"),
    (OVERLAP, "two spans of one record overlap (flat tags cannot hold both)"),
)
"""The span reasons, in the order :func:`span_fault` checks them, with what they mean."""

CHECK_REASONS: tuple[str, ...] = (SPAN_REVERSED, SPAN_OUT_OF_RANGE, SPAN_KEY_MISMATCH)
"""The reasons :func:`span_fault` gives (a span against its text)."""

OVERLAP_POLICIES = ("fail", "keep_longest", "keep_first")
TAGGING_POLICY = "keep_first"

AUTO, FLAT, NESTED = "auto", "flat", "nested"
"""The span decoding policies (an experiment's ``span_decoding``); ``auto`` resolves to one
of the other two."""
FLAT_MAX_OVERLAP_SHARE = 0.01
"""``auto`` decodes flat when at most this share of the training data's gold spans overlap
another (counted in pairs): CLUENER train has 2 overlapping pairs in 23,971 spans, so it
is flat; nested corpora (ACE, GENIA) have tens of percent. Below that share, nested
decoding could gain at most that much recall, while every overlapping prediction it keeps
on a flat corpus holds at least one false positive."""


def show(span: Span, text: str) -> str:
    """``type[start, end] 'surface'``, the way messages name a span."""
    return f"{span.label}[{span.start}, {span.end}] {span.surface(text)!r}"


def span_fault(span: Span, key: str, text: str) -> tuple[str, str] | None:
    """The first fault ``(reason, message)`` of a span with entity string ``key`` against
    ``text`` (reversed, then outside the text, then covering another string), or None."""
    where = f"span {span.label}[{span.start}, {span.end}]"
    if span.start > span.end:
        return SPAN_REVERSED, f"{where} of {key!r} has start > end"
    if span.start < 0 or span.end >= len(text):
        return SPAN_OUT_OF_RANGE, f"{where} of {key!r} is outside the text (length {len(text)})"
    surface = span.surface(text)
    if surface != key:
        return SPAN_KEY_MISMATCH, f"{where} covers {surface!r} but its key is {key!r}"
    return None


def overlapping_pairs(spans: Sequence[Span]) -> Iterator[tuple[Span, Span]]:
    """Every overlapping pair of the sorted ``spans``, in order."""
    for i, first in enumerate(spans):
        for j in range(i + 1, len(spans)):  # no slice: a text may hold thousands of spans
            if spans[j].start > first.end:
                break
            yield first, spans[j]


def _relation(first: Span, second: Span) -> str:
    """How ``first`` overlaps ``second`` (which does not start before it)."""
    if (first.start, first.end) == (second.start, second.end):
        return "has the same offsets as"
    if first.start <= second.start and second.end <= first.end:
        return "contains"
    if second.start <= first.start and first.end <= second.end:
        return "is inside"
    return "crosses"


def overlap_messages(spans: Sequence[Span], text: str) -> list[str]:
    """One :data:`OVERLAP` message per overlapping pair of the sorted ``spans``."""
    return [
        f"overlapping spans: {show(first, text)} {_relation(first, second)} {show(second, text)}"
        for first, second in overlapping_pairs(spans)
    ]


def resolve_overlaps(spans: Iterable[Span], policy: str) -> tuple[list[Span], list[Span]]:
    """Greedily keep non-overlapping spans; return ``(kept, dropped)``, both sorted.

    Duplicate spans count once. ``keep_longest`` considers spans longest first (ties:
    earliest start, then type name), ``keep_first`` earliest start first (ties: longest,
    then type name); a span is kept when it overlaps none already kept. So the preferred
    span of every overlapping cluster is kept, and other spans are dropped only where
    they conflict with a kept one.
    """
    if policy == "keep_longest":
        order = sorted(set(spans), key=lambda s: (s.start - s.end, s.start, s.label))
    elif policy == "keep_first":
        order = sorted(set(spans), key=lambda s: (s.start, s.start - s.end, s.label))
    else:
        raise ValueError(f"overlap policy must be keep_longest or keep_first, not {policy!r}")
    kept: list[Span] = []
    dropped: list[Span] = []
    for span in order:
        (dropped if any(span.overlaps(k) for k in kept) else kept).append(span)
    return sorted(kept), sorted(dropped)


def remove_overlaps(spans: Iterable[Span]) -> tuple[list[Span], list[Span]]:
    """Tagging-time removal (:data:`TAGGING_POLICY`): of an overlapping pair the later one
    is dropped, and of two starting together the shorter one (a title containing names
    keeps the title). Returns ``(kept, dropped)``, both sorted."""
    return resolve_overlaps(spans, TAGGING_POLICY)


def nesting(records: Iterable[Sequence[Span]]) -> dict[str, int]:
    """How nested a data set is, from each record's spans: ``{records, spans,
    overlapping_pairs, records_with_overlaps}`` (duplicate spans of a record count once)."""
    counts = dict.fromkeys(("records", "spans", "overlapping_pairs", "records_with_overlaps"), 0)
    for spans in records:
        unique = sorted(set(spans))
        pairs = sum(1 for _ in overlapping_pairs(unique))
        counts["records"] += 1
        counts["spans"] += len(unique)
        counts["overlapping_pairs"] += pairs
        counts["records_with_overlaps"] += int(pairs > 0)
    return counts


def resolve_span_decoding(policy: str, train_nesting: Mapping[str, int] | None) -> str:
    """``flat`` or ``nested``: ``policy`` itself, or for ``auto`` what the training data's
    :func:`nesting` calls for (flat when at most :data:`FLAT_MAX_OVERLAP_SHARE` of its
    spans overlap; nested when its nesting is unknown, as decoding was before ``auto``)."""
    if policy in (FLAT, NESTED):
        return policy
    if policy != AUTO:
        raise ValueError(f"span decoding must be one of {(AUTO, FLAT, NESTED)}, not {policy!r}")
    if not train_nesting:
        return NESTED
    pairs, spans = train_nesting["overlapping_pairs"], train_nesting["spans"]
    return FLAT if pairs <= FLAT_MAX_OVERLAP_SHARE * spans else NESTED


def best_flat_spans(weights: Mapping[Span, float]) -> list[Span]:
    """The non-overlapping subset of ``weights``' spans of maximum total weight, sorted.

    Weighted interval scheduling, exact and O(n log n): spans in (end, start, type) order,
    ``best[i]`` the best total of the first ``i``, a span taken when it plus the best of the
    spans ending before its start beats leaving it out. Why exact rather than greedy by
    weight: a span head's score reads as the log-odds of its span (positive: predicted), so
    the total is the log-odds of the whole flat set and the maximum its most probable flat
    reading; greedy keeps a
    long span of score 3 over the two spans of score 2 nested in it (total 4), the exact
    choice keeps the two. A span of weight <= 0 is never kept.

    Ties are deterministic: a span is taken only when that is strictly better, so of
    equally good sets the one found first in (end, start, type) order wins: of two tied
    overlapping spans, the one ending first (then the one starting first, then the smaller
    type name).
    """
    order = sorted(weights, key=lambda span: (span.end, span.start, span.label))
    ends = [span.end for span in order]
    best = [0.0] * (len(order) + 1)
    taken = [False] * len(order)
    before = [bisect_left(ends, span.start) for span in order]  # spans ending before it
    for i, span in enumerate(order):
        take = weights[span] + best[before[i]]
        taken[i] = take > best[i]
        best[i + 1] = take if taken[i] else best[i]
    kept: list[Span] = []
    i = len(order)
    while i > 0:
        if taken[i - 1]:
            kept.append(order[i - 1])
            i = before[i - 1]
        else:
            i -= 1
    return sorted(kept)
