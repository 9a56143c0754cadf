"""Predict one split with a classifier folder: label and class probabilities per line."""

from nerflow import stage
from nerflow.classification.examples import read_examples
from nerflow.classification.predict import load_classifier, predict_examples
from nerflow.jsonio import write_json_lines

smk = snakemake  # noqa: F821
log = stage.start(smk)
classifier = load_classifier(smk.input.model, smk.params.device)
lines = predict_examples([classifier], read_examples(smk.input.examples))
write_json_lines(smk.output[0], lines)
log.info("%d examples predicted", len(lines))
stage.finish(smk)
