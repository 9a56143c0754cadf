"""Tokenisation with character offsets, and sliding windows over long texts.

Everything here works on character offsets into the ORIGINAL text; text is never rebuilt
from tokens (``tokenizer.decode`` loses case, spaces and unknown characters). Labels are
aligned to these tokens, and restored from them, by :mod:`nerflow.text.alignment`.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args

from nerflow.data.records import Span
from nerflow.text.lost import DROPPED_CHARS, INSIDE_WORD_PIECE

Tokenization = Literal["char", "wordpiece"]
TOKENIZATIONS: tuple[str, ...] = get_args(Tokenization)
"""Tokenisation modes, by name (an experiment's ``tokenization``)."""


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


class TextTokens:
    """Where the content tokens of a whole (untruncated) text start and end.

    ``covered``: the characters that carry a token; ``starts``/``ends``: the character
    offsets at which a token starts / after which one ends. A span is representable in the
    text iff its first and last characters are covered, it starts on a token start and
    ends on a token end. A window checks spans that it cuts against these, so a span that
    no window can carry (it ends on a dropped character outside the window, say) is lost
    for that reason in every window, and never tagged in part by a clipping window.
    The sets are built on first use (prediction never needs them).
    """

    def __init__(self, offsets: Sequence[tuple[int, int]]) -> None:
        self._offsets = tuple(offsets)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextTokens) and self._offsets == other._offsets

    def __hash__(self) -> int:
        return hash(self._offsets)

    def __repr__(self) -> str:
        return f"TextTokens(offsets={list(self._offsets)})"

    @classmethod
    def of(cls, offsets: Sequence[tuple[int, int]]) -> TextTokens:
        return cls(offsets)

    @cached_property
    def covered(self) -> frozenset[int]:
        return frozenset(char for start, end in self._offsets for char in range(start, end))

    @cached_property
    def starts(self) -> frozenset[int]:
        return frozenset(start for start, end in self._offsets if end > start)

    @cached_property
    def ends(self) -> frozenset[int]:
        return frozenset(end for start, end in self._offsets if end > start)

    def lost_reason(self, span: Span) -> str | None:
        """Why ``span`` cannot be represented in the whole text (None: it can)."""
        if span.start not in self.covered or span.end not in self.covered:
            return DROPPED_CHARS
        if span.start not in self.starts or span.end + 1 not in self.ends:
            return INSIDE_WORD_PIECE
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
    if mode not in TOKENIZATIONS:
        raise ValueError(f"unknown tokenisation mode {mode!r}; expected one of {TOKENIZATIONS}")
    if not texts:
        return []
    common = {
        "add_special_tokens": add_special_tokens,
        "return_attention_mask": False,
        "return_token_type_ids": False,
    }
    if mode == "char":
        return _encode_chars(texts, tokenizer, add_special_tokens)
    enc = tokenizer(list(texts), return_offsets_mapping=True, **common)
    encodings = []
    for index, text in enumerate(texts):
        offsets = [tuple(o) for o in enc["offset_mapping"][index]]
        word_ids = enc.word_ids(index)
        encodings.append(
            _split_specials(list(enc["input_ids"][index]), word_ids, offsets, text, mode)
        )
    return encodings


def _encode_chars(
    texts: Sequence[str], tokenizer: Any, add_special_tokens: bool
) -> list[_Encoding]:
    """Char mode: every character is a word of its own, which a tokenizer encodes apart
    from its neighbours (``is_split_into_words``), so each distinct character is encoded
    once, in one call, and the texts are put together from those pieces (what one call on
    all the texts gives, several times faster). The specials come from a one-word call."""
    chars = sorted({char for text in texts for char in text})
    common = {
        "is_split_into_words": True,
        "return_attention_mask": False,
        "return_token_type_ids": False,
    }
    enc = tokenizer([[char] for char in [" ", *chars]], add_special_tokens=False, **common)
    pieces = dict(zip(chars, enc["input_ids"][1:], strict=True))
    framed = tokenizer([["a"]], add_special_tokens=add_special_tokens, **common)
    frame_ids, frame_words = framed["input_ids"][0], framed.word_ids(0)
    content = [i for i, word in enumerate(frame_words) if word is not None]
    prefix = frame_ids[: content[0]] if content else frame_ids
    suffix = frame_ids[content[-1] + 1 :] if content else []
    encodings = []
    for text in texts:
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        for position, char in enumerate(text):
            piece = pieces[char]
            ids += piece
            offsets += [(position, position + 1)] * len(piece)
        if ids:
            encodings.append(_Encoding(list(prefix), list(suffix), ids, offsets, len(text), "char"))
        else:  # as _split_specials: no content, every special is a prefix
            encodings.append(_Encoding(list(prefix) + list(suffix), [], [], [], len(text), "char"))
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


def _stop(enc: _Encoding, max_len: int | None) -> int:
    """Where a text's one window ends: at ``max_len`` tokens, specials included."""
    return len(enc.ids) if max_len is None else min(len(enc.ids), _content_budget(enc, max_len))


def tokenize(
    text: str,
    tokenizer: Any,
    mode: Tokenization = "char",
    max_len: int | None = None,
    add_special_tokens: bool = True,
) -> TokenizedText:
    """Tokenise ``text`` in ``mode``, keeping at most ``max_len`` tokens (specials included).

    Truncation drops content tokens at the end (the specials stay) and sets ``truncated``.
    """
    enc = _encode(text, tokenizer, mode, add_special_tokens)
    return _slice(enc, 0, _stop(enc, max_len))


def n_tokens(
    text: str, tokenizer: Any, mode: Tokenization = "char", add_special_tokens: bool = True
) -> int:
    """Number of tokens ``tokenize`` needs for ``text`` without truncation (for length stats)."""
    enc = _encode(text, tokenizer, mode, add_special_tokens)
    return len(enc.prefix) + len(enc.ids) + len(enc.suffix)


def windows(
    text: str, tokenizer: Any, mode: Tokenization, max_len: int | None, stride: int, **options: bool
) -> list[TokenizedText]:
    """Sliding windows of at most ``max_len`` tokens (specials included) over ``text``.

    Windows hold ``max_len - n_specials`` content tokens, each window starting
    ``max_len - n_specials - stride`` content tokens after the previous one, so that
    consecutive windows share ``stride`` content tokens; the last window is moved back to
    end on the last token (it may share more). Together they hold every content token. A
    text that fits gives one window, identical to ``tokenize``.

    Gold spans labelled per window with ``token_labels_from_spans(..., clip=True)`` and
    merged with ``merge_window_tags`` (both in :mod:`nerflow.text.alignment`) restore exactly
    in char mode when ``stride >= 2`` (without ``clip``, entities of up to ``stride // 2``
    tokens do).

    ``options``: ``add_special_tokens`` (default True) and ``truncate``: one window cut at
    ``max_len`` (:func:`tokenize`); with ``max_len`` None, one window of the whole text.
    Training caches, the round-trip audit and prediction all take their windows from here.
    """
    return windows_many([text], tokenizer, mode, max_len, stride, **options)[0]


def windows_many(
    texts: Sequence[str],
    tokenizer: Any,
    mode: Tokenization,
    max_len: int | None,
    stride: int,
    add_special_tokens: bool = True,
    truncate: bool = False,
) -> list[list[TokenizedText]]:
    """:func:`windows` of every text, tokenised in one call."""
    out = []
    for enc in _encode_many(texts, tokenizer, mode, add_special_tokens):
        if truncate or max_len is None:
            stop = (
                len(enc.ids)
                if max_len is None
                else min(len(enc.ids), _content_budget(enc, max_len))
            )
            out.append([_slice(enc, 0, stop)])
            continue
        size = _content_budget(enc, max_len)
        if not 0 <= stride < size:
            raise ValueError(f"stride must be in [0, {size}) for max_len={max_len}, got {stride}")
        total = len(enc.ids)
        starts = [0]
        while starts[-1] + size < total:
            starts.append(min(starts[-1] + size - stride, total - size))
        out.append([_slice(enc, start, min(start + size, total)) for start in starts])
    return out
