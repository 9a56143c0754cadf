"""A BERT trained from random initialisation: its transformers config from the scratch
sizes (:class:`nerflow.config.scratch.ScratchConfig`), shared by the ``encoder: scratch`` tagger
(:mod:`nerflow.models.transformer`) and masked-LM pretraining (:mod:`nerflow.pretraining.mlm`)."""

from __future__ import annotations

from typing import Any

from nerflow.config.scratch import ScratchConfig


def scratch_bert_config(sizes: ScratchConfig, tokenizer: Any, max_len: int, **extra: Any) -> Any:
    """A ``transformers.BertConfig`` of ``sizes`` for ``tokenizer``'s vocabulary, with
    position embeddings for at least 512 and ``max_len`` tokens; ``extra`` adds config
    fields (``id2label``...). ``ValueError`` when ``hidden`` is no multiple of ``heads``."""
    from transformers import BertConfig

    if sizes.hidden % sizes.heads:
        raise ValueError(f"hidden {sizes.hidden} is not a multiple of heads {sizes.heads}")
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(sizes.hidden),
        num_hidden_layers=int(sizes.layers),
        num_attention_heads=int(sizes.heads),
        intermediate_size=int(sizes.intermediate),
        hidden_dropout_prob=float(sizes.dropout),
        attention_probs_dropout_prob=float(sizes.dropout),
        max_position_embeddings=max(512, int(max_len)),
        pad_token_id=tokenizer.pad_token_id or 0,
        **extra,
    )
