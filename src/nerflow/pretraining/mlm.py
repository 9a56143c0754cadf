"""Masked-LM data and model: examples of unlabelled texts, the held-out split, a scratch
``BertForMaskedLM``, its loss on the masked positions and its held-out evaluation.

Tokenisation is the one fine-tuning uses (:func:`nerflow.text.tokenization.windows`, ``"char"``
mode by default), so every character the tagger later sees was seen here the same way.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nerflow.config.scratch import PretrainConfig
from nerflow.models.scratch_bert import scratch_bert_config
from nerflow.pretraining.masking import mask_tokens, whole_word_spans
from nerflow.tensors import IGNORE_INDEX, pad, padding_mask
from nerflow.text.tokenization import TOKENIZATIONS, windows
from nerflow.training.amp import autocast


@dataclass
class Example:
    """One training sequence: token ids (specials included) and word id per token (-1:
    never masked)."""

    input_ids: list[int]
    word_ids: list[int]


def encode_texts(
    texts: Sequence[str],
    tokenizer: Any,
    max_len: int,
    mode: str = "char",
    lexicon: Any = None,
) -> list[Example]:
    """Tokenise texts into examples of at most ``max_len`` tokens.

    A longer text gives several consecutive windows (:func:`nerflow.text.tokenization.windows`
    with ``stride=0``: no overlap, except that the last window is moved back to end on
    the last token). Word ids number the
    words of ``whole_word_spans(text, lexicon)`` (or, without a lexicon, the characters);
    a token's word is the word of its first character. Texts without content tokens are
    skipped.
    """
    if mode not in TOKENIZATIONS:
        raise ValueError(f"unknown tokenization {mode!r}; expected one of {TOKENIZATIONS}")
    examples: list[Example] = []
    for text in texts:
        if lexicon is not None:
            char_word = [0] * len(text)
            for index, (start, end) in enumerate(whole_word_spans(text, lexicon)):
                char_word[start:end] = [index] * (end - start)
        else:
            char_word = list(range(len(text)))
        for tok in windows(text, tokenizer, mode, max_len, stride=0):
            assert tok.special is not None
            word_ids = [
                -1 if special else char_word[start]
                for (start, _), special in zip(tok.offsets, tok.special, strict=True)
            ]
            if any(w >= 0 for w in word_ids):
                examples.append(Example(list(tok.input_ids), word_ids))
    return examples


def pad_examples(
    examples: Sequence[Example], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, word_ids, attention_mask)`` padded to the batch's longest example."""
    rows = [ex.input_ids for ex in examples]
    return pad(rows, pad_id), pad([ex.word_ids for ex in examples], -1), padding_mask(rows)


def split_heldout(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(train, heldout)`` indices of ``n`` texts: a seeded ``fraction`` held out (at least
    one text when ``fraction > 0`` and ``n >= 2``)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_held = 0 if fraction <= 0 or n < 2 else min(n - 1, max(1, round(fraction * n)))
    return sorted(order[n_held:]), sorted(order[:n_held])


def build_mlm_model(config: PretrainConfig, tokenizer: Any):
    """A randomly initialised ``BertForMaskedLM`` sized by ``config`` for ``tokenizer``."""
    from transformers import BertForMaskedLM

    return BertForMaskedLM(scratch_bert_config(config, tokenizer, config.max_len))


def masked_logits(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor):
    """Float logits of the masked positions only (``labels`` not ignored): the vocabulary
    projection of the other positions would be wasted work."""
    hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    return model.cls(hidden[labels != IGNORE_INDEX]).float()


def masked_lm_loss(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor):
    """Mean cross-entropy over the masked positions (0, with gradients, when there are none)."""
    logits = masked_logits(model, ids, mask, labels)
    target = labels[labels != IGNORE_INDEX]
    if target.numel() == 0:
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits, target)


@torch.no_grad()
def evaluate_mlm(
    model,
    examples: Sequence[Example],
    tokenizer: Any,
    config: PretrainConfig,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Masked-token loss and accuracy on ``examples`` with a FIXED masking (seeded by
    ``config.seed``), so values of successive evaluations are comparable."""
    generator = torch.Generator().manual_seed(int(config.seed) + 1)
    was_training = model.training
    model.eval()
    loss_sum, correct, total = 0.0, 0, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    size = max(1, int(config.batch_size))
    for begin in range(0, len(order), size):
        batch = [examples[i] for i in order[begin : begin + size]]
        ids, words, mask = pad_examples(batch, tokenizer.pad_token_id or 0)
        masked, labels = mask_tokens(
            ids, words, tokenizer, config.mlm_probability, config.whole_word, generator
        )
        labels = labels.to(device)
        with autocast(device, amp_dtype):
            logits = masked_logits(model, masked.to(device), mask.to(device), labels)
        target = labels[labels != IGNORE_INDEX]
        if target.numel():
            loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=-1) == target).sum())
            total += int(target.numel())
    model.train(was_training)
    if not total:
        return {"loss": float("nan"), "accuracy": float("nan"), "n_masked": 0}
    return {"loss": loss_sum / total, "accuracy": correct / total, "n_masked": total}
