"""Whole-word masking for masked-LM pretraining: words, and BERT's masking of a batch.

Words (:func:`whole_word_spans`): a jieba segmentation (:func:`load_lexicon`) or forward
maximum matching over a plain word collection.

Masking (:func:`mask_tokens`): each maskable unit -- a word under whole-word masking, a
token otherwise -- is selected with probability ``mlm_probability``, so about that
fraction of the maskable tokens is selected; special tokens (``[CLS]``, ``[SEP]``,
``[PAD]``, ``[UNK]``, ...) never are. Each selected token becomes ``[MASK]`` (80 %), a
random non-special token (10 %) or stays (10 %), decided per token as in BERT's
reference implementation. Labels are the original ids on selected tokens,
:data:`~nerflow.tensors.IGNORE_INDEX` elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import torch

from nerflow.tensors import IGNORE_INDEX

MAX_WORD_LEN = 16
"""Longest word forward maximum matching looks for in a plain word collection."""


def load_lexicon(spec: str | Path = "jieba") -> Any:
    """A jieba tokenizer over jieba's dictionary (``"jieba"``) or a dictionary file."""
    try:
        import jieba
    except ImportError as error:  # pragma: no cover - jieba is the ``lexicon`` extra
        raise ImportError(
            "whole-word masking needs jieba (pip install 'nerflow[lexicon]')"
        ) from error

    tokenizer = jieba.Tokenizer() if str(spec) == "jieba" else jieba.Tokenizer(str(spec))
    tokenizer.initialize()
    return tokenizer


def whole_word_spans(text: str, lexicon: Any) -> list[tuple[int, int]]:
    """Segment ``text`` into words: half-open character spans ``[start, end)`` that tile it.

    ``lexicon`` is either a jieba tokenizer (``jieba.Tokenizer`` or :func:`load_lexicon`:
    maximum-probability segmentation over its dictionary, HMM off, hence deterministic and
    without invented words) or a collection of words (forward maximum matching, words of
    up to :data:`MAX_WORD_LEN` characters). Characters that start no word are words of
    their own, except that a run of ASCII letters and digits is one word (as in jieba).
    """
    if hasattr(lexicon, "tokenize"):
        spans = [(int(start), int(end)) for _, start, end in lexicon.tokenize(text, HMM=False)]
    else:
        spans = _forward_max_match(text, lexicon)
    position = 0
    for start, end in spans:
        if start != position or end <= start:
            raise RuntimeError(f"segmentation does not tile the text: {spans} for {text!r}")
        position = end
    if position != len(text):
        raise RuntimeError(f"segmentation does not cover the text: {spans} for {text!r}")
    return spans


def _forward_max_match(text: str, words: Collection[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        end = i + 1
        for size in range(min(MAX_WORD_LEN, n - i), 1, -1):
            if text[i : i + size] in words:
                end = i + size
                break
        else:
            while end < n and _ascii_alnum(text[i]) and _ascii_alnum(text[end]):
                end += 1
        spans.append((i, end))
        i = end
    return spans


def _ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def mask_tokens(
    input_ids: torch.Tensor | Sequence[Sequence[int]],
    word_ids_per_token: torch.Tensor | Sequence[Sequence[int | None]],
    tokenizer: Any,
    mlm_probability: float = 0.15,
    whole_word: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of a padded batch: ``(masked input_ids, labels)``, both ``[batch, seq]``.

    ``word_ids_per_token[b][i]`` is the word of token ``i`` of row ``b`` (any integers;
    tokens of one row sharing a value form one word), or ``None``/a negative value for
    tokens that must never be masked (special tokens, padding). Ids of the tokenizer's
    special tokens are never masked whatever their word id. With ``whole_word`` every
    token of a selected word is selected; without it each token is its own unit. The
    inputs are not modified. Runs on the inputs' device; ``generator`` must live there.
    """
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    words = _word_tensor(word_ids_per_token, ids.device)
    if ids.shape != words.shape or ids.dim() != 2:
        raise ValueError(f"input_ids {tuple(ids.shape)} and word ids {tuple(words.shape)} differ")
    special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), device=ids.device)
    maskable = (words >= 0) & ~torch.isin(ids, special_ids)
    rows, cols = maskable.nonzero(as_tuple=True)
    unit = words[rows, cols] if whole_word else cols
    keys = rows * (int(unit.max()) + 1 if unit.numel() else 1) + unit
    _, unit_index = torch.unique(keys, return_inverse=True)
    n_units = int(unit_index.max()) + 1 if unit_index.numel() else 0
    chosen_units = _uniform(n_units, ids.device, generator) < mlm_probability
    selected = torch.zeros_like(maskable)
    selected[rows, cols] = chosen_units[unit_index]

    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
    masked = ids.clone()
    sel_rows, sel_cols = selected.nonzero(as_tuple=True)
    draw = _uniform(sel_rows.numel(), ids.device, generator)
    to_mask = draw < 0.8
    to_random = (draw >= 0.8) & (draw < 0.9)
    masked[sel_rows[to_mask], sel_cols[to_mask]] = tokenizer.mask_token_id
    candidates = _ordinary_ids(tokenizer, ids.device)
    n_random = int(to_random.sum())
    if n_random:
        pick = torch.randint(len(candidates), (n_random,), generator=generator, device=ids.device)
        masked[sel_rows[to_random], sel_cols[to_random]] = candidates[pick]
    return masked, labels


def _word_tensor(word_ids: Any, device: torch.device) -> torch.Tensor:
    if isinstance(word_ids, torch.Tensor):
        return word_ids.to(device=device, dtype=torch.long)
    return torch.tensor(
        [[-1 if w is None else int(w) for w in row] for row in word_ids],
        dtype=torch.long,
        device=device,
    )


def _uniform(n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device)


def _ordinary_ids(tokenizer: Any, device: torch.device) -> torch.Tensor:
    """Ids a random replacement may take: the whole vocabulary minus special tokens."""
    special = set(tokenizer.all_special_ids)
    ids = [i for i in range(len(tokenizer)) if i not in special]
    if not ids:
        raise ValueError("the tokenizer has no non-special tokens")
    return torch.tensor(ids, dtype=torch.long, device=device)
