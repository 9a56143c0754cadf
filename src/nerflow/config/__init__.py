"""Configuration: the settings of every stage with their defaults
(:mod:`~nerflow.config.experiment`)
and the workflow config's checks, one line per problem (:mod:`~nerflow.config.check`).

Layer: above :mod:`nerflow.text`, whose scheme and tokenisation names it uses.
"""
