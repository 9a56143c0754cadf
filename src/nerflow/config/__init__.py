"""Configuration: an experiment's settings with their defaults
(:mod:`~nerflow.config.experiment`), the scratch sizes and pretraining runs
(:mod:`~nerflow.config.scratch`), the choices several blocks share
(:mod:`~nerflow.config.choices`) and the workflow config's checks, one line per problem
(:mod:`~nerflow.config.check`). The ``features`` block lives with the features
(:mod:`nerflow.features.config`).

Layer: above :mod:`nerflow.features`, whose block an experiment holds.
"""
