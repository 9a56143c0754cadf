"""Score a split's predictions: accuracy, macro F1, per class, confusion, confident errors."""

from nerflow import stage
from nerflow.classification.examples import read_examples
from nerflow.classification.scoring import (
    confident_errors,
    pair_labels,
    read_predictions,
    score_labels,
)
from nerflow.data.labels import read_labels
from nerflow.jsonio import write_json, write_json_lines

smk = snakemake  # noqa: F821
log = stage.start(smk)
gold = read_examples(smk.input.gold)
predicted = read_predictions(smk.input.predictions)
scores = score_labels(
    *pair_labels(gold, predicted, smk.input.predictions), read_labels(smk.input.labels)
)
write_json(smk.output.scores, scores)
write_json_lines(smk.output.errors, confident_errors(gold, predicted))
log.info("accuracy %.4f, macro F1 %.4f", scores["accuracy"], scores["macro_f1"])
stage.finish(smk)
