"""Tokenisation with character offsets, span <-> token-label alignment, and exact restore.

Everything here works on character offsets into the ORIGINAL text; text is never rebuilt
from tokens (``tokenizer.decode`` loses case, spaces and unknown characters).

Two modes:

- ``"char"``: every character is its own word (``tokenizer(list(text),
  is_split_into_words=True)``); ``word_ids()`` gives the character index of each token.
  A character outside the vocabulary becomes ``[UNK]`` in its own position. Whitespace
  and characters the tokenizer drops (control characters, zero-width characters such as
  U+200B and U+FEFF, lone combining marks under accent stripping) get no token. If a
  character yields several sub-tokens, only the first carries a label.
- ``"wordpiece"``: plain ``tokenizer(text, return_offsets_mapping=True)``. Latin/digit
  runs are split into pieces (``"￥5999"`` -> ``￥ ##59 ##99``) and a word holding an
  unknown character becomes ONE ``[UNK]`` covering the whole word; every non-special
  token carries a label, one token = one tag position whatever its width.

Restore rule: token labels are decoded at token level (lenient, see ``nerflow.tagging``),
each token-level entity becomes the character span from its first token's first
character to its last token's last character. Hence a span always starts and ends on a
character that carries a token; characters without a token are ``O`` outside entities
and ``I-X`` when they sit inside an ``X`` entity (a space inside ``"Tom Cruise"``), so
texts with whitespace restore exactly.

Gold spans that cannot be represented are reported with a reason:

- ``"nested"``: overlaps another span (the later/shorter one is dropped, see
  :func:`nerflow.tagging.remove_overlaps`);
- ``"truncated"``: reaches beyond the characters covered by the kept tokens;
- ``"dropped_chars"``: starts or ends on a character that has no token (whitespace...);
- ``"inside_word_piece"``: a boundary falls strictly inside a token's character range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nerflow.records import Span
from nerflow.tagging import check_scheme, remove_overlaps, spans_to_tags, tags_to_spans

Mode = Literal["char", "wordpiece"]
MODES = ("char", "wordpiece")
REASONS = ("nested", "inside_word_piece", "truncated", "dropped_chars")


@dataclass
class TokenizedText:
    """One tokenised text (or window of it), aligned to the original characters.

    ``offsets[i]`` is token ``i``'s character range ``[start, end)`` in the original
    text, ``(0, 0)`` for special tokens. ``labelled[i]`` says whether token ``i`` carries
    a tag. ``truncated`` is true when tokens were cut off; the kept tokens then cover the
    characters ``[char_start, char_end)`` (otherwise ``0`` and ``n_chars``).
    ``text_tokens`` describes the tokens of the WHOLE text (shared by its windows), so a
    span cut by the window edge is known to be unrepresentable anyway (see
    :class:`TextTokens`).
    """

    input_ids: list[int]
    offsets: list[tuple[int, int]]
    labelled: list[bool]
    n_chars: int
    truncated: bool = False
    mode: str = "char"
    special: list[bool] | None = None
    char_start: int = 0
    char_end: int = -1
    text_tokens: TextTokens | None = None

    def __post_init__(self) -> None:
        if self.special is None:
            self.special = [offset == (0, 0) for offset in self.offsets]
        if self.char_end < 0:
            self.char_end = self.n_chars

    def __len__(self) -> int:
        return len(self.input_ids)

    def label_positions(self) -> list[int]:
        """Indices of the tokens that carry a label, in order."""
        return [i for i, flag in enumerate(self.labelled) if flag]

    def char_tokens(self) -> tuple[list[int | None], list[int | None]]:
        """Per character, the first and the last labelled token covering it (or None)."""
        first: list[int | None] = [None] * self.n_chars
        last: list[int | None] = [None] * self.n_chars
        for i in self.label_positions():
            start, end = self.offsets[i]
            for char in range(start, end):
                if first[char] is None:
                    first[char] = i
                last[char] = i
        return first, last


@dataclass(frozen=True)
class TextTokens:
    """Where the content tokens of a whole (untruncated) text start and end.

    ``covered``: the characters that carry a token; ``starts``/``ends``: the character
    offsets at which a token starts / after which one ends. A span is representable in the
    text iff its first and last characters are covered, it starts on a token start and
    ends on a token end. A window checks spans that it cuts against these, so a span that
    no window can carry (it ends on a dropped character outside the window, say) is lost
    for that reason in every window, and never tagged in part by a clipping window.
    """

    covered: frozenset[int]
    starts: frozenset[int]
    ends: frozenset[int]

    @classmethod
    def of(cls, offsets: Sequence[tuple[int, int]]) -> TextTokens:
        return cls(
            frozenset(char for start, end in offsets for char in range(start, end)),
            frozenset(start for start, end in offsets if end > start),
            frozenset(end for start, end in offsets if end > start),
        )

    def lost_reason(self, span: Span) -> str | None:
        """Why ``span`` cannot be represented in the whole text (None: it can)."""
        if span.start not in self.covered or span.end not in self.covered:
            return "dropped_chars"
        if span.start not in self.starts or span.end + 1 not in self.ends:
            return "inside_word_piece"
        return None


@dataclass
class _Encoding:
    """A full, untruncated encoding split into leading specials, content, trailing specials."""

    prefix: list[int]
    suffix: list[int]
    ids: list[int]
    offsets: list[tuple[int, int]]
    n_chars: int
    mode: str
    text_tokens: TextTokens | None = None

    def __post_init__(self) -> None:
        if self.text_tokens is None:
            self.text_tokens = TextTokens.of(self.offsets)


def _encode_many(
    texts: Sequence[str], tokenizer: Any, mode: str, add_special_tokens: bool
) -> list[_Encoding]:
    """Full encodings of ``texts`` from ONE tokenizer call (a fast tokenizer encodes a
    batch in parallel, far faster than text by text)."""
    if mode not in MODES:
        raise ValueError(f"unknown tokenisation mode {mode!r}; expected one of {MODES}")
    if not texts:
        return []
    common = {
        "add_special_tokens": add_special_tokens,
        "return_attention_mask": False,
        "return_token_type_ids": False,
    }
    if mode == "char":
        enc = tokenizer([list(text) for text in texts], is_split_into_words=True, **common)
    else:
        enc = tokenizer(list(texts), return_offsets_mapping=True, **common)
    encodings = []
    for index, text in enumerate(texts):
        word_ids = enc.word_ids(index)
        if mode == "char":
            offsets = [(0, 0) if w is None else (w, w + 1) for w in word_ids]
        else:
            offsets = [tuple(o) for o in enc["offset_mapping"][index]]
        encodings.append(
            _split_specials(list(enc["input_ids"][index]), word_ids, offsets, text, mode)
        )
    return encodings


def _split_specials(
    ids: list[int], word_ids: list[int | None], offsets: list, text: str, mode: str
) -> _Encoding:
    content = [i for i, w in enumerate(word_ids) if w is not None]
    if not content:
        return _Encoding(ids, [], [], [], len(text), mode)
    first, last = content[0], content[-1]
    if content != list(range(first, last + 1)):
        raise ValueError("special tokens inside the content are not supported")
    return _Encoding(
        prefix=ids[:first],
        suffix=ids[last + 1 :],
        ids=ids[first : last + 1],
        offsets=[(int(s), int(e)) for s, e in offsets[first : last + 1]],
        n_chars=len(text),
        mode=mode,
    )


def _encode(text: str, tokenizer: Any, mode: str, add_special_tokens: bool) -> _Encoding:
    return _encode_many([text], tokenizer, mode, add_special_tokens)[0]


def _slice(enc: _Encoding, start: int, stop: int) -> TokenizedText:
    """The TokenizedText holding content tokens ``[start, stop)`` of ``enc`` plus specials."""
    ids = enc.ids[start:stop]
    offsets = enc.offsets[start:stop]
    if enc.mode == "char":  # first sub-token of each character within the slice
        labelled = [i == 0 or offsets[i] != offsets[i - 1] for i in range(len(offsets))]
    else:
        labelled = [True] * len(offsets)
    cut_left, cut_right = start > 0, stop < len(enc.ids)
    n_pre, n_suf = len(enc.prefix), len(enc.suffix)
    return TokenizedText(
        input_ids=enc.prefix + ids + enc.suffix,
        offsets=[(0, 0)] * n_pre + offsets + [(0, 0)] * n_suf,
        labelled=[False] * n_pre + labelled + [False] * n_suf,
        n_chars=enc.n_chars,
        truncated=cut_left or cut_right,
        mode=enc.mode,
        special=[True] * n_pre + [False] * len(ids) + [True] * n_suf,
        char_start=offsets[0][0] if cut_left else 0,
        char_end=offsets[-1][1] if cut_right else enc.n_chars,
        text_tokens=enc.text_tokens,
    )


def _content_budget(enc: _Encoding, max_len: int) -> int:
    budget = max_len - len(enc.prefix) - len(enc.suffix)
    if budget < 1:
        raise ValueError(f"max_len={max_len} leaves no room next to the special tokens")
    return budget


def tokenize(
    text: str,
    tokenizer: Any,
    mode: Mode = "char",
    max_len: int | None = None,
    add_special_tokens: bool = True,
) -> TokenizedText:
    """Tokenise ``text`` in ``mode``, keeping at most ``max_len`` tokens (specials included).

    Truncation drops content tokens at the end (the specials stay) and sets ``truncated``.
    """
    enc = _encode(text, tokenizer, mode, add_special_tokens)
    stop = len(enc.ids) if max_len is None else min(len(enc.ids), _content_budget(enc, max_len))
    return _slice(enc, 0, stop)


def n_tokens(
    text: str, tokenizer: Any, mode: Mode = "char", add_special_tokens: bool = True
) -> int:
    """Number of tokens ``tokenize`` needs for ``text`` without truncation (for length stats)."""
    enc = _encode(text, tokenizer, mode, add_special_tokens)
    return len(enc.prefix) + len(enc.ids) + len(enc.suffix)


def windows(
    text: str,
    tokenizer: Any,
    mode: Mode,
    max_len: int,
    stride: int,
    add_special_tokens: bool = True,
) -> list[TokenizedText]:
    """Sliding windows of at most ``max_len`` tokens (specials included) over ``text``.

    Windows hold ``max_len - n_specials`` content tokens, each window starting
    ``max_len - n_specials - stride`` content tokens after the previous one, so that
    consecutive windows share ``stride`` content tokens; the last window is moved back to
    end on the last token (it may share more). Together they hold every content token. A
    text that fits gives one window, identical to ``tokenize``.

    Gold spans labelled per window with ``token_labels_from_spans(..., clip=True)`` and
    merged with :func:`merge_window_tags` restore exactly in char mode when ``stride >= 2``
    (without ``clip``, entities of up to ``stride // 2`` tokens do).
    """
    return windows_many([text], tokenizer, mode, max_len, stride, add_special_tokens)[0]


def windows_many(
    texts: Sequence[str],
    tokenizer: Any,
    mode: Mode,
    max_len: int,
    stride: int,
    add_special_tokens: bool = True,
) -> list[list[TokenizedText]]:
    """:func:`windows` of every text, tokenised in one call."""
    out = []
    for enc in _encode_many(texts, tokenizer, mode, add_special_tokens):
        size = _content_budget(enc, max_len)
        if not 0 <= stride < size:
            raise ValueError(f"stride must be in [0, {size}) for max_len={max_len}, got {stride}")
        total = len(enc.ids)
        starts = [0]
        while starts[-1] + size < total:
            starts.append(min(starts[-1] + size - stride, total - size))
        out.append([_slice(enc, start, min(start + size, total)) for start in starts])
    return out


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
    result with :func:`nerflow.tagging.tags_to_spans`.
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
    if len(windows) != len(window_spans):
        raise ValueError(f"{len(windows)} windows but {len(window_spans)} span lists")
    owners = window_owners(n_chars, windows)
    kept = {
        span
        for index, spans in enumerate(window_spans)
        for span in spans
        if owners[span.start] == index
    }
    return sorted(kept)


def token_spans_from_spans(
    tok: TokenizedText, spans: Sequence[Span]
) -> tuple[list[tuple[int, int, str]], list[tuple[Span, str]]]:
    """Gold character spans -> ``(first token, last token, type)`` for span heads.

    Unlike tags, token spans may overlap and nest: every span whose boundaries fall on
    labelled tokens of ``tok`` is kept; the others are returned with their reason
    (``truncated``, ``dropped_chars``, ``inside_word_piece``).
    """
    bad = [s for s in spans if not 0 <= s.start <= s.end < tok.n_chars]
    if bad:
        raise ValueError(f"spans out of range for a text of {tok.n_chars} characters: {bad}")
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


def spans_from_token_spans(
    tok: TokenizedText, token_spans: Sequence[tuple[int, int, str]]
) -> list[Span]:
    """``(first token, last token, type)`` -> character spans on the original text."""
    return sorted(
        {
            Span(tok.offsets[first][0], tok.offsets[last][1] - 1, label)
            for first, last, label in token_spans
        }
    )


def _lost_reason(
    tok: TokenizedText, span: Span, first: list[int | None], last: list[int | None]
) -> str | None:
    if tok.truncated and (span.start < tok.char_start or span.end >= tok.char_end):
        # a span that the whole text cannot carry is lost for that reason, not "truncated"
        # (with clip, a window would otherwise tag a part of it that no other window has)
        whole = tok.text_tokens.lost_reason(span) if tok.text_tokens is not None else None
        return whole or "truncated"
    start_token, end_token = first[span.start], last[span.end]
    if start_token is None or end_token is None:
        return "dropped_chars"
    if tok.offsets[start_token][0] != span.start or tok.offsets[end_token][1] != span.end + 1:
        return "inside_word_piece"
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
    bad = [s for s in spans if not 0 <= s.start <= s.end < tok.n_chars]
    if bad:
        raise ValueError(f"spans out of range for a text of {tok.n_chars} characters: {bad}")
    kept, nested = remove_overlaps(spans)
    lost: list[tuple[Span, str]] = [(span, "nested") for span in nested]
    first, last = tok.char_tokens()
    positions = tok.label_positions()
    position_of = {token: k for k, token in enumerate(positions)}
    token_spans: list[Span] = []
    for span in kept:
        reason = _lost_reason(tok, span, first, last)
        if reason is not None:
            lost.append((span, reason))
            if not (clip and reason == "truncated"):
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
