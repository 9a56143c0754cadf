"""Inference: a trained model folder on texts. Windows, batched decoding and restore on the
original text (:mod:`~nerflow.inference.predict`), ensembles' span votes
(:mod:`~nerflow.inference.ensemble`) and user files tagged (:mod:`~nerflow.inference.annotate`).

Layer: above :mod:`nerflow.models`, below training (which predicts dev each epoch);
independent of :mod:`nerflow.evaluation`.
"""
