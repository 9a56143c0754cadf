"""The neural sentence classifier: any emitter of the NER track (a BERT-family encoder, a
scratch BERT, the character BiLSTM, with their input features) whose per-token scores are
pooled into one score per class.

The emitter's output layer maps each token's hidden state to one score per class, so
pooling those scores is pooling the hidden states and then classifying (the layer is
linear): ``mean`` averages over the tokens of the text, ``cls`` takes the first (special)
token, ``max`` takes each class's strongest token. A text longer than ``max_len`` tokens
is read in sliding windows; its scores are the windows' pooled scores, averaged with each
window weighted by its token count (for ``mean`` this is exactly the mean over the whole
text's tokens, shared tokens counted once per window), or the maximum for ``max``. No text
is truncated."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nerflow.classification.settings import POOLINGS
from nerflow.features.featurizer import Featurizer
from nerflow.models.emitter import Emitter
from nerflow.models.tagger import param_groups
from nerflow.tensors import as_tensors, pad, padding_mask
from nerflow.text.tokenization import TokenizedText, windows_many


class PooledClassifier(nn.Module):
    """An emitter with one output per class, its token scores pooled (module doc)."""

    def __init__(
        self,
        emitter: Emitter,
        labels: Sequence[str],
        pooling: str,
        featurizer: Featurizer | None = None,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        self.emitter, self.labels, self.pooling = emitter, list(labels), pooling
        self.featurizer = featurizer

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> torch.Tensor:
        """``[batch, n_classes]`` scores of each window."""
        scores = self.emitter(input_ids, attention_mask, **features).float()
        mask = attention_mask.unsqueeze(-1).to(scores.dtype)
        if self.pooling == "cls":
            return scores[:, 0]
        if self.pooling == "max":
            return scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min).amax(dim=1)
        return (scores * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    @property
    def kind(self) -> str:
        return self.emitter.kind

    def save(self, folder: Path) -> None:
        """The emitter's files and the feature assets."""
        self.emitter.save(folder)
        if self.featurizer is not None:
            self.featurizer.save(folder)

    def param_groups(self, lr: float, head_lr: float, weight_decay: float) -> list[dict]:
        """AdamW groups of :func:`nerflow.models.tagger.param_groups` (the emitter's output
        layer at ``head_lr``)."""
        own = self.featurizer.group_lrs() if self.featurizer is not None else {}
        return param_groups(self, self.emitter.head_parameters(), lr, head_lr, weight_decay, own)


@dataclasses.dataclass
class EncodedText:
    """The windows of one text: token ids and per-token feature tensors."""

    windows: list[TokenizedText]
    features: list[dict[str, torch.Tensor]]


def encode_texts(
    texts: Sequence[str],
    tokenizer: Any,
    featurizer: Featurizer | None,
    mode: str,
    max_len: int,
    stride: int,
) -> list[EncodedText]:
    """The sliding windows of every text (:func:`nerflow.text.tokenization.windows_many`)
    with their input features."""
    per_text = windows_many(list(texts), tokenizer, mode, max_len, stride)  # type: ignore[arg-type]
    char_features = featurizer.iter_char_features(texts) if featurizer is not None else iter(())
    encoded = []
    for toks in per_text:
        chars = next(char_features) if featurizer is not None else None
        features = [
            as_tensors(featurizer.token_features(tok, chars)) if featurizer is not None else {}
            for tok in toks
        ]
        encoded.append(EncodedText(toks, features))
    return encoded


def window_batch(
    rows: Sequence[tuple[TokenizedText, dict[str, torch.Tensor]]], pad_id: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Padded ``input_ids``, ``attention_mask`` and feature tensors of some windows."""
    ids = [tok.input_ids for tok, _ in rows]
    input_ids, mask = pad(ids, pad_id), padding_mask(ids)
    names = rows[0][1].keys() if rows else ()
    features = {
        name: pad([feats[name] for _, feats in rows], 0, input_ids.size(1)).to(device)
        for name in names
    }
    return input_ids.to(device), mask.to(device), features


@torch.no_grad()
def text_scores(
    model: PooledClassifier,
    encoded: Sequence[EncodedText],
    pad_id: int,
    batch_size: int,
    device: Any,
) -> torch.Tensor:
    """``[n_texts, n_classes]`` scores: windows scored in length-sorted batches, then
    pooled per text (module doc)."""
    rows = [
        (text_index, tok, feats)
        for text_index, text in enumerate(encoded)
        for tok, feats in zip(text.windows, text.features, strict=True)
    ]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][1].input_ids))
    window_scores = torch.zeros(len(rows), len(model.labels))
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        input_ids, mask, features = window_batch(
            [(rows[i][1], rows[i][2]) for i in chunk], pad_id, device
        )
        window_scores[chunk] = model(input_ids, mask, **features).float().cpu()
    model.train(was_training)
    owners = torch.tensor([row[0] for row in rows], dtype=torch.long)
    if model.pooling == "max":
        out = torch.full((len(encoded), len(model.labels)), torch.finfo(torch.float32).min)
        return out.scatter_reduce(
            0, owners[:, None].expand_as(window_scores), window_scores, "amax"
        )
    weights = torch.tensor([float(len(row[1].input_ids)) for row in rows])
    total = torch.zeros(len(encoded)).index_add_(0, owners, weights)
    summed = torch.zeros(len(encoded), len(model.labels)).index_add_(
        0, owners, window_scores * weights[:, None]
    )
    return summed / total[:, None]
