"""Leaderboard of all experiments (dev scores, per-type F1, training cost), TSV and HTML."""

import json

from nerflow import stage
from nerflow.leaderboard import (
    REFERENCE,
    html_table,
    leaderboard_columns,
    leaderboard_row,
    rank_rows,
    write_tsv,
)


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


smk = snakemake  # noqa: F821
log = stage.start(smk)
types = load(smk.input.labels)["labels"]
rows = [
    leaderboard_row(name, load(scores), types, load(summary), smk.params.experiments[name])
    for name, scores, summary in zip(
        smk.params.runs, smk.input.scores, smk.input.summaries, strict=True
    )
]
for name, scores in zip(smk.params.references, smk.input.references, strict=True):
    rows.append(leaderboard_row(name, load(scores), types, kind=REFERENCE))
rows = rank_rows(rows)
columns = leaderboard_columns(types)
write_tsv(smk.output.tsv, columns, rows)
with open(smk.output.html, "w", encoding="utf-8") as handle:
    handle.write(
        html_table(
            columns,
            rows,
            "Leaderboard: dev scores of all experiments",
            note="Ranked by strict micro F1. Reference rows (rank 'ref') are not models: the "
            "oracle passes the gold labels through tokenisation and restore, the ceiling "
            "of that tokenisation. Best experiment value per score column in bold.",
        )
    )
for row in rows:
    log.info("%s %s micro F1 %s", row["rank"], row["experiment"], row["micro_f1"])
stage.finish(smk, ["nerflow.leaderboard"])
