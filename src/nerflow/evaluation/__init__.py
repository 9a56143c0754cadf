"""Evaluation: predicted spans scored against gold several ways, with the error analysis
(:mod:`~nerflow.evaluation.scoring`).

Layer: below training (which scores dev each epoch), beside :mod:`nerflow.inference` and
independent of it.
"""
