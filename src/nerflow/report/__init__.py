"""Report: what people read. Figures (:mod:`~nerflow.report.plots`), the leaderboard and
error tables (:mod:`~nerflow.report.leaderboard`) and model cards
(:mod:`~nerflow.report.modelcard`).

Layer: the top of the package, below the command line.
"""
