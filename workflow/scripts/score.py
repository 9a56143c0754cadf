"""Score a prediction file: strict spans, the CLUE scorer, seqeval, error analysis."""

import json

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.data.labels import read_labels
from nerflow.evaluation.errors import error_rows, write_errors_tsv
from nerflow.evaluation.scoring import score
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
labels = read_labels(smk.input.labels)
with open(smk.input.textcheck, encoding="utf-8") as handle:
    mismatches = json.load(handle)["mismatched_lines"]
gold = read_records(smk.input.gold)
predicted = read_records(smk.input.predictions)
scores = score(gold, predicted, labels, text_mismatch_lines=mismatches)
write_json(smk.output.scores, scores)
write_errors_tsv(smk.output.errors, error_rows(gold, predicted))
log.info(
    "micro F1 %.4f, macro F1 %.4f, CLUE macro F1 %.4f",
    scores["micro"]["f1"],
    scores["macro_f1"],
    scores["clue_macro_f1"],
)
stage.finish(smk)
