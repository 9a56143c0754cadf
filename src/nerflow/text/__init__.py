"""Text: characters and tokens, and spans as tags.

Tokenisation with character offsets and sliding windows (:mod:`~nerflow.text.tokenization`),
tagging schemes (:mod:`~nerflow.text.tagging`), span <-> token-label alignment and restore
on the original text (:mod:`~nerflow.text.alignment`), why a gold span is lost on the way
(:mod:`~nerflow.text.lost`) and tokenizer folders (:mod:`~nerflow.text.vocab`).

Layer: above :mod:`nerflow.data`; no torch model, no experiment setting.
"""
