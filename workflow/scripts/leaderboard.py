"""Leaderboard of all experiments (dev scores, per-type F1, training cost), TSV and HTML."""

import json

from nerflow import stage
from nerflow.data.labels import read_labels
from nerflow.report.leaderboard import (
    REFERENCE,
    html_table,
    leaderboard_columns,
    leaderboard_row,
    rank_rows,
    relative_links,
    write_tsv,
)


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


smk = snakemake  # noqa: F821
log = stage.start(smk)
types = read_labels(smk.input.labels)
labelled_test = bool(smk.input.test_scores)  # a labelled test split: its columns are added


def test_scores(paths, count):
    return [load(path) for path in paths] if labelled_test else [None] * count


rows = [
    leaderboard_row(name, load(scores), types, load(summary), experiment, test_scores=test)
    for name, scores, summary, experiment, test in zip(
        smk.params.runs,
        smk.input.scores,
        smk.input.summaries,
        [smk.params.experiments[name] for name in smk.params.runs],
        test_scores(smk.input.test_scores, len(smk.params.runs)),
        strict=True,
    )
]
rows += [
    leaderboard_row(name, load(scores), types, kind=REFERENCE, test_scores=test)
    for name, scores, test in zip(
        smk.params.references,
        smk.input.references,
        test_scores(smk.input.test_references, len(smk.params.references)),
        strict=True,
    )
]
rows = rank_rows(rows)
columns = leaderboard_columns(types, test=labelled_test)
title = "Leaderboard: dev scores of all experiments"
if labelled_test:
    title += " (test columns: the labelled test split, never used to select)"
write_tsv(smk.output.tsv, columns, rows)
with open(smk.output.html, "w", encoding="utf-8") as handle:
    handle.write(
        html_table(
            columns,
            rows,
            title,
            note="Ranked by strict micro F1. Reference rows (rank 'ref') are not models: the "
            "oracle passes the gold labels through tokenisation and restore, the ceiling "
            "of that tokenisation. Best experiment value per score column in bold. An "
            "experiment's name links to its dev error browser.",
            links=relative_links(
                dict(zip(smk.params.runs, smk.input.browsers, strict=True)), smk.output.html
            ),
        )
    )
for row in rows:
    log.info("%s %s micro F1 %s", row["rank"], row["experiment"], row["micro_f1"])
stage.finish(smk)
