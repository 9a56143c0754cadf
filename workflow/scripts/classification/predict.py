"""Predict one split with a classifier folder: label and class probabilities per line."""

from nerflow import stage
from nerflow.atomic import atomic_output
from nerflow.classification.examples import read_examples
from nerflow.classification.predict import load_classifier, predict_examples
from nerflow.jsonio import json_line

smk = snakemake  # noqa: F821
log = stage.start(smk)
classifier = load_classifier(smk.input.model, smk.params.device)
lines = predict_examples([classifier], read_examples(smk.input.examples))
with atomic_output(smk.output[0]) as handle:
    handle.writelines(json_line(line) for line in lines)
log.info("%d examples predicted", len(lines))
stage.finish(smk)
