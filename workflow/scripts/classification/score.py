"""Score a split's predictions: accuracy, macro F1, per class, confusion, the accuracy on
texts also in train and on the others, and the most confident errors."""

from nerflow import stage
from nerflow.classification.examples import read_examples
from nerflow.classification.scoring import confident_errors, read_predictions, score_split
from nerflow.data.labels import read_labels
from nerflow.jsonio import write_json, write_json_lines

smk = snakemake  # noqa: F821
log = stage.start(smk)
gold = read_examples(smk.input.gold)
predicted = read_predictions(smk.input.predictions)
labels = read_labels(smk.input.labels)
scores = score_split(gold, predicted, labels, read_examples(smk.input.train), smk.input.predictions)
write_json(smk.output.scores, scores)
write_json_lines(smk.output.errors, confident_errors(gold, predicted))
overlap = scores["train_overlap"]
log.info(
    "accuracy %.4f, macro F1 %.4f; on %d texts also in train %s, on %d others %s",
    scores["accuracy"],
    scores["macro_f1"],
    overlap["seen_in_train"]["examples"],
    overlap["seen_in_train"]["accuracy"],
    overlap["unseen"]["examples"],
    overlap["unseen"]["accuracy"],
)
stage.finish(smk)
