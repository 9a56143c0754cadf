"""Score a split's predictions: accuracy, macro F1, per class, confusion, confident errors."""

from nerflow import stage
from nerflow.atomic import atomic_output
from nerflow.classification.examples import read_examples
from nerflow.classification.scoring import (
    confident_errors,
    pair_labels,
    read_predictions,
    score_labels,
)
from nerflow.data.labels import read_labels
from nerflow.jsonio import json_line, write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
gold = read_examples(smk.input.gold)
predicted = read_predictions(smk.input.predictions)
scores = score_labels(
    *pair_labels(gold, predicted, smk.input.predictions), read_labels(smk.input.labels)
)
write_json(smk.output.scores, scores)
with atomic_output(smk.output.errors) as handle:
    handle.writelines(json_line(row) for row in confident_errors(gold, predicted))
log.info("accuracy %.4f, macro F1 %.4f", scores["accuracy"], scores["macro_f1"])
stage.finish(smk)
