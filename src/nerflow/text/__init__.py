"""Text: characters and tokens, and spans as tags.

Tokenisation with character offsets and sliding windows (:mod:`~nerflow.text.tokenization`),
tagging schemes (:mod:`~nerflow.text.tagging`), span <-> token-label alignment and restore
on the original text (:mod:`~nerflow.text.alignment`), gold spans through that chain
(:mod:`~nerflow.text.roundtrip`) and tokenizer folders (:mod:`~nerflow.text.vocab`).

Layer: above :mod:`nerflow.data`; no torch model, no experiment setting.
"""
