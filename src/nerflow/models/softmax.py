"""Softmax head: each labelled token's tag on its own (cross-entropy, argmax)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from nerflow.heads.softmax import SoftmaxSpec
from nerflow.models.head import GoldSpans, TagHead
from nerflow.tensors import IGNORE_INDEX


class SoftmaxHead(TagHead):
    """Independent per-token tags: mean cross-entropy over the labelled positions and
    per-position argmax (which may break the scheme's rules; the CRF head cannot)."""

    spec = SoftmaxSpec
    pipeline_usable: ClassVar[bool] = True
    plain_load: ClassVar[tuple[str, str]] = (
        "transformers",
        "the full tagger: the logits are the tag scores that nerflow decodes, and `id2label` "
        "names `S-X` as `B-X` and `E-X` as `I-X`, so the pipeline's B/I grouping gives the "
        "same spans. Unlike `nerflow predict`, the pipeline tokenises the raw text itself "
        "(the tokenizer's own pieces, not nerflow's `{tokenization}` tokenisation: Latin and "
        "digit runs become word pieces or `[UNK]`), and has no sliding windows (nerflow: "
        "`max_len` {max_len}, `stride` {stride}): a longer text runs in one pass, and one "
        "longer than the position embeddings fails. On an invalid tag sequence (`S-X` or "
        "`E-X` followed by `I-X`) the pipeline continues the entity where nerflow starts a "
        "new one.",
    )

    def loss(self, scores: Tensor, labels: Tensor, spans: GoldSpans = None) -> Tensor:
        loss = nn.functional.cross_entropy(
            scores.float().reshape(-1, len(self.labels)),
            labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
        )
        if not bool((labels != IGNORE_INDEX).any()):
            loss = scores.float().sum() * 0.0
        return loss
