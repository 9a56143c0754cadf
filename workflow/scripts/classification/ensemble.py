"""An ensemble's predictions of one split: its members' class probabilities averaged."""

from nerflow import stage
from nerflow.classification.predict import average_predictions
from nerflow.classification.scoring import read_predictions
from nerflow.jsonio import write_json_lines

smk = snakemake  # noqa: F821
log = stage.start(smk)
lines = average_predictions([read_predictions(path) for path in smk.input])
write_json_lines(smk.output[0], lines)
log.info("%d examples, %d members averaged", len(lines), len(smk.input))
stage.finish(smk)
