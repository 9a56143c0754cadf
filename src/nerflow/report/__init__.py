"""Report: what people read. Figures (:mod:`~nerflow.report.plots`), the leaderboard and
error tables (:mod:`~nerflow.report.leaderboard`), the per-run error browser
(:mod:`~nerflow.report.error_browser`) and model cards
(:mod:`~nerflow.report.modelcard`).

Layer: the top of the package, below the command line.
"""
