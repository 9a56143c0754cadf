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
test = bool(smk.input.test_scores)  # a labelled test split: its columns are added


def test_scores(paths, index):
    return load(paths[index]) if test else None


rows = [
    leaderboard_row(
        name,
        load(scores),
        types,
        load(summary),
        smk.params.experiments[name],
        test_scores=test_scores(smk.input.test_scores, index),
    )
    for index, (name, scores, summary) in enumerate(
        zip(smk.params.runs, smk.input.scores, smk.input.summaries, strict=True)
    )
]
for index, (name, scores) in enumerate(
    zip(smk.params.references, smk.input.references, strict=True)
):
    rows.append(
        leaderboard_row(
            name,
            load(scores),
            types,
            kind=REFERENCE,
            test_scores=test_scores(smk.input.test_references, index),
        )
    )
rows = rank_rows(rows)
columns = leaderboard_columns(types, test=test)
write_tsv(smk.output.tsv, columns, rows)
with open(smk.output.html, "w", encoding="utf-8") as handle:
    handle.write(
        html_table(
            columns,
            rows,
            "Leaderboard: dev scores of all experiments"
            + (" (test columns: the labelled test split, never used to select)" if test else ""),
            note="Ranked by strict micro F1. Reference rows (rank 'ref') are not models: the "
            "oracle passes the gold labels through tokenisation and restore, the ceiling "
            "of that tokenisation. Best experiment value per score column in bold.",
        )
    )
for row in rows:
    log.info("%s %s micro F1 %s", row["rank"], row["experiment"], row["micro_f1"])
stage.finish(smk)
