"""Evaluation: predicted spans scored against gold several ways, with the error analysis
(:mod:`~nerflow.evaluation.scoring`), and gold spans through the prediction chain: the
round-trip audit and the oracle run (:mod:`~nerflow.evaluation.roundtrip`).

Layer: below training (which scores dev each epoch), beside :mod:`nerflow.inference` and
independent of it.
"""
