"""An ensemble's predictions of one split: its members' class probabilities averaged."""

from nerflow import stage
from nerflow.atomic import atomic_output
from nerflow.classification.predict import average_predictions
from nerflow.classification.scoring import read_predictions
from nerflow.jsonio import json_line

smk = snakemake  # noqa: F821
log = stage.start(smk)
lines = average_predictions([read_predictions(path) for path in smk.input])
with atomic_output(smk.output[0]) as handle:
    handle.writelines(json_line(line) for line in lines)
log.info("%d examples, %d members averaged", len(lines), len(smk.input))
stage.finish(smk)
