"""Input features of encoders trained from scratch, and their embeddings.

The :class:`~nerflow.features.featurizer.Featurizer` turns texts into per-character
feature ids; :mod:`~nerflow.features.spec` says which features an experiment switches on;
each feature's own computation lives in its module (:mod:`~nerflow.features.bigrams`,
:mod:`~nerflow.features.lexicon`, :mod:`~nerflow.features.gazetteer` with
:mod:`~nerflow.features.matching`, and LAC's :mod:`~nerflow.features.lac_analyser`,
:mod:`~nerflow.features.lac_analyses` and :mod:`~nerflow.features.lac_encoder`);
:mod:`~nerflow.features.embeddings` is the ``nn.Module`` that emitters take them in with.

The ``features`` block's keys and defaults are in :mod:`~nerflow.features.config`.

Layer: above :mod:`nerflow.text`; below the config and the models that use it.
"""
