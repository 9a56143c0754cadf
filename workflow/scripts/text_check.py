"""Text-mismatch check of a prediction file against its validated source."""

from nerflow import stage
from nerflow.data.textcheck import assert_clean, check_predictions
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
report = check_predictions(smk.input.source, smk.input.predictions, smk.params.source_format)
write_json(smk.output[0], report)
log.info("%d mismatched lines", report["mismatched_lines"])
assert_clean(report, max_mismatches=smk.params.max_mismatches)
stage.finish(smk)
