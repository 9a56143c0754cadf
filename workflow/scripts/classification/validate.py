"""Validate one split of a classification data set: normalised examples, a report and the
rejected lines."""

from nerflow import stage
from nerflow.classification.examples import write_examples
from nerflow.classification.validate import validate_examples
from nerflow.data.labels import read_labels
from nerflow.data.rejections import check_or_raise, write_rejected
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
labels = smk.params.labels or None
if smk.input.labels:  # every split but train: the label set fixed by train
    labels = read_labels(smk.input.labels[0])
result = validate_examples(
    smk.input.data,
    split=smk.wildcards.split,
    labels=labels,
    require_labels=smk.params.require_labels,
    text_column=smk.params.text_column,
    label_column=smk.params.label_column,
    file_format=smk.params.file_format,
)
write_rejected(smk.output.rejected, result.rejected)
write_json(smk.output.report, result.report)
for warning in result.warnings:
    log.warning(warning)
check_or_raise(result, smk.input.data, smk.params.on_invalid)
write_examples(smk.output.examples, result.records)
report = result.report
stage.say(
    log,
    f"{smk.input.data}: {report['records']} examples kept, {report['rejected']} rejected "
    f"(classes {report['class_counts']})"
    + (f"; rejected lines in {smk.output.rejected}" if report["rejected"] else ""),
)
stage.finish(smk)
