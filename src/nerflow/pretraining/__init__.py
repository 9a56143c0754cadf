"""Masked-LM pretraining of a from-scratch encoder on unlabelled text: whole-word masking
(:mod:`~nerflow.pretraining.masking`), the MLM data and model (:mod:`~nerflow.pretraining.mlm`)
and the run (:mod:`~nerflow.pretraining.pretrain`).

Layer: above :mod:`nerflow.training`, whose loop it runs.
"""
