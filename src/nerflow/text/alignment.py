"""Span <-> token-label alignment, exact restore, and merging of sliding windows.

Works on the tokens of :mod:`nerflow.text.tokenization`, whose offsets point into the ORIGINAL
text: spans are restored on it, never on text rebuilt from tokens.

Restore rule: token labels are decoded at token level (lenient, see ``nerflow.text.tagging``),
each token-level entity becomes the character span from its first token's first
character to its last token's last character. Hence a span always starts and ends on a
character that carries a token; characters without a token are ``O`` outside entities
and ``I-X`` when they sit inside an ``X`` entity (a space inside ``"Tom Cruise"``), so
texts with whitespace restore exactly.

Gold spans that cannot be represented are reported with a reason of
:data:`nerflow.text.lost.LOST_REASONS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nerflow.data.records import Span
from nerflow.data.spans import remove_overlaps
from nerflow.text.lost import DROPPED_CHARS, INSIDE_WORD_PIECE, NESTED, TRUNCATED
from nerflow.text.tagging import check_scheme, spans_to_tags, tags_to_spans
from nerflow.text.tokenization import TokenizedText


def char_centrality(tok: TokenizedText) -> list[int]:
    """Per character of the text, its centrality in the window ``tok`` (-1 outside it).

    A character's centrality is the distance, in content tokens, from its token to the
    window's nearest edge; a character without a token inside the window's range takes
    the smaller distance of its two tokenised neighbours.
    """
    n_chars = tok.n_chars
    result = [-1] * n_chars
    content = [i for i, special in enumerate(tok.special or []) if not special]
    if not content:
        return result
    distance: list[int | None] = [None] * n_chars
    for position, i in enumerate(content):
        start, end = tok.offsets[i]
        for char in range(start, end):
            if distance[char] is None:
                distance[char] = min(position, len(content) - 1 - position)
    chars = range(tok.offsets[content[0]][0], tok.offsets[content[-1]][1])
    following: dict[int, int] = {}
    nearest = 0
    for char in reversed(chars):  # the first and last characters carry tokens
        known = distance[char]
        if known is not None:
            nearest = known
        following[char] = nearest
    nearest = 0
    for char in chars:
        value = distance[char]
        if value is None:  # a gap: the nearer-to-edge of its two neighbours
            value = min(nearest, following[char])
        else:
            nearest = value
        result[char] = value
    return result


def window_owners(n_chars: int, windows: Sequence[TokenizedText]) -> list[int]:
    """Per character, the index of its most central window (ties: the earlier; -1: none)."""
    best = [(-1, -1)] * n_chars
    for index, tok in enumerate(windows):
        if tok.n_chars != n_chars:
            raise ValueError(f"window of {tok.n_chars} characters, text has {n_chars}")
        for char, value in enumerate(char_centrality(tok)):
            if value > best[char][0]:
                best[char] = (value, index)
    return [index for _, index in best]


def merge_window_tags(
    n_chars: int, windows: Sequence[TokenizedText], window_char_tags: Sequence[Sequence[str]]
) -> list[str]:
    """Merge per-window character tags: each character takes the tag of its most central
    window (:func:`window_owners`); characters outside every window get ``O``. Decode the
    result with :func:`nerflow.text.tagging.tags_to_spans`.
    """
    if len(windows) != len(window_char_tags):
        raise ValueError(f"{len(windows)} windows but {len(window_char_tags)} tag lists")
    for tags in window_char_tags:
        if len(tags) != n_chars:
            raise ValueError(f"window tags must have {n_chars} characters, got {len(tags)}")
    owners = window_owners(n_chars, windows)
    return [
        "O" if owner < 0 else window_char_tags[owner][char] for char, owner in enumerate(owners)
    ]


def merge_window_spans(
    n_chars: int, windows: Sequence[TokenizedText], window_spans: Sequence[Sequence[Span]]
) -> list[Span]:
    """Merge per-window character spans (span heads): a span is kept from the window that
    owns its first character (:func:`window_owners`), so a span seen by two overlapping
    windows counts once and the more central view decides. Overlapping and nested spans
    are kept. Sorted."""
    scored = [dict.fromkeys(spans, 0.0) for spans in window_spans]
    return sorted(merge_scored_window_spans(n_chars, windows, scored))


def merge_scored_window_spans(
    n_chars: int, windows: Sequence[TokenizedText], window_spans: Sequence[Mapping[Span, float]]
) -> dict[Span, float]:
    """:func:`merge_window_spans` of spans with scores: each kept span has the score of the
    window it is kept from. The flat decoding policy is applied to this merged result
    (:func:`nerflow.data.spans.best_flat_spans`): windows flat each may still overlap once
    merged (a span kept from one window may reach into characters where the next window's
    spans start)."""
    if len(windows) != len(window_spans):
        raise ValueError(f"{len(windows)} windows but {len(window_spans)} span lists")
    owners = window_owners(n_chars, windows)
    return {
        span: score
        for index, spans in enumerate(window_spans)
        for span, score in spans.items()
        if owners[span.start] == index
    }


def token_spans_from_spans(
    tok: TokenizedText, spans: Sequence[Span]
) -> tuple[list[tuple[int, int, str]], list[tuple[Span, str]]]:
    """Gold character spans -> ``(first token, last token, type)`` for span heads.

    Unlike tags, token spans may overlap and nest: every span whose boundaries fall on
    labelled tokens of ``tok`` is kept; the others are returned with their reason
    (``truncated``, ``dropped_chars``, ``inside_word_piece``).
    """
    _check_in_range(tok, spans)
    first, last = tok.char_tokens()
    kept: list[tuple[int, int, str]] = []
    lost: list[tuple[Span, str]] = []
    for span in spans:
        reason = _lost_reason(tok, span, first, last)
        if reason is not None:
            lost.append((span, reason))
            continue
        start_token, end_token = first[span.start], last[span.end]
        assert start_token is not None and end_token is not None
        kept.append((start_token, end_token, span.label))
    return kept, sorted(lost)


def scored_spans_from_token_spans(
    tok: TokenizedText, token_spans: Sequence[tuple[int, int, str, float]]
) -> dict[Span, float]:
    """``(first token, last token, type, score)`` -> ``{character span: score}`` on the
    original text (tokens sharing a character may give one span twice: the higher score)."""
    spans: dict[Span, float] = {}
    for first, last, label, score in token_spans:
        span = Span(tok.offsets[first][0], tok.offsets[last][1] - 1, label)
        spans[span] = max(score, spans.get(span, score))
    return spans


def _check_in_range(tok: TokenizedText, spans: Sequence[Span]) -> None:
    bad = [s for s in spans if not 0 <= s.start <= s.end < tok.n_chars]
    if bad:
        raise ValueError(f"spans out of range for a text of {tok.n_chars} characters: {bad}")


def _lost_reason(
    tok: TokenizedText, span: Span, first: list[int | None], last: list[int | None]
) -> str | None:
    if tok.truncated and (span.start < tok.char_start or span.end >= tok.char_end):
        # a span that the whole text cannot carry is lost for that reason, not "truncated"
        # (with clip, a window would otherwise tag a part of it that no other window has)
        whole = tok.text_tokens.lost_reason(span) if tok.text_tokens is not None else None
        return whole or TRUNCATED
    start_token, end_token = first[span.start], last[span.end]
    if start_token is None or end_token is None:
        return DROPPED_CHARS
    if tok.offsets[start_token][0] != span.start or tok.offsets[end_token][1] != span.end + 1:
        return INSIDE_WORD_PIECE
    return None


def token_labels_from_spans(
    tok: TokenizedText, spans: Sequence[Span], scheme: str, clip: bool = False
) -> tuple[list[str | None], list[tuple[Span, str]]]:
    """Gold character spans -> one label per token (None where ``labelled`` is false).

    Also returns the spans that cannot be represented, each with its reason (see the
    module docstring). A token covering several characters of an entity is one position.
    With ``clip``, a span cut by truncation (or by a window edge) still has its visible
    part tagged (it is reported as ``"truncated"`` all the same): use it to label windows
    for training or for :func:`merge_window_tags`.
    """
    check_scheme(scheme)
    _check_in_range(tok, spans)
    kept, nested = remove_overlaps(spans)
    lost: list[tuple[Span, str]] = [(span, NESTED) for span in nested]
    first, last = tok.char_tokens()
    positions = tok.label_positions()
    position_of = {token: k for k, token in enumerate(positions)}
    token_spans: list[Span] = []
    for span in kept:
        reason = _lost_reason(tok, span, first, last)
        if reason is not None:
            lost.append((span, reason))
            if not (clip and reason == TRUNCATED):
                continue
            span = Span(
                max(span.start, tok.char_start), min(span.end, tok.char_end - 1), span.label
            )
            if span.start > span.end or _lost_reason(tok, span, first, last) is not None:
                continue
        start_token, end_token = first[span.start], last[span.end]
        assert start_token is not None and end_token is not None
        token_spans.append(Span(position_of[start_token], position_of[end_token], span.label))
    tags = spans_to_tags(len(positions), token_spans, scheme)
    labels: list[str | None] = [None] * len(tok.input_ids)
    for token, tag in zip(positions, tags, strict=True):
        labels[token] = tag
    return labels, sorted(lost)


def restore_spans(tok: TokenizedText, labels: Sequence[str | None], scheme: str) -> list[Span]:
    """Token labels -> character spans on the original text (see the module docstring).

    Labels of tokens that are not ``labelled`` are ignored, None counts as ``O``.
    Equals ``tags_to_spans(char_tags_from_token_labels(tok, labels, scheme), scheme)``.
    """
    if len(labels) != len(tok.input_ids):
        raise ValueError(f"{len(tok.input_ids)} tokens but {len(labels)} labels")
    positions = tok.label_positions()
    sequence = [labels[token] or "O" for token in positions]
    spans = [
        Span(tok.offsets[positions[s.start]][0], tok.offsets[positions[s.end]][1] - 1, s.label)
        for s in tags_to_spans(sequence, scheme)
    ]
    return remove_overlaps(spans)[0]  # only several tokens on one character can clash


def char_tags_from_token_labels(
    tok: TokenizedText, labels: Sequence[str | None], scheme: str
) -> list[str]:
    """Token labels -> ``n_chars`` character tags in ``scheme``.

    Each token-level entity is projected onto its full character range and re-encoded, so
    a lone B-X (BIO) or S-X (BIOS/BIOES) token over three characters gives ``B-X I-X I-X``
    in BIO/BIOS and ``B-X I-X E-X`` in BIOES; characters without a token are ``O`` unless
    inside an entity.
    """
    return spans_to_tags(tok.n_chars, restore_spans(tok, labels, scheme), scheme)


def lost_in_every_window(lost_per_window: Sequence[Sequence[tuple[Span, str]]]) -> dict[Span, str]:
    """Spans that no window carries whole, with a reason (a reason other than
    ``truncated`` wins: a span cut by one window's edge may be whole in the next)."""
    lost_sets = [dict(lost) for lost in lost_per_window]
    reasons: dict[Span, str] = {}
    for lost in lost_sets:
        for span, reason in lost.items():
            if reasons.get(span, TRUNCATED) == TRUNCATED:
                reasons[span] = reason
    return {span: r for span, r in reasons.items() if all(span in lost for lost in lost_sets)}
