"""Validate one split: normalised records, a report and the rejected lines."""

from nerflow import stage
from nerflow.data.cluener import write_records
from nerflow.data.labels import read_labels
from nerflow.data.rejections import check_or_raise, write_rejected
from nerflow.data.validate import validate_file
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)

labels = smk.params.labels or None
if smk.input.labels:  # every split but train: the label set fixed by train
    labels = read_labels(smk.input.labels[0])

result = validate_file(
    smk.input.data,
    split=smk.wildcards.split,
    labels=labels,
    overlap_policy=smk.params.overlap_policy,
    require_labels=smk.params.require_labels,
)
write_rejected(smk.output.rejected, result.rejected)
write_json(smk.output.report, result.report)
for warning in result.warnings:
    log.warning(warning)
check_or_raise(result, smk.input.data, smk.params.on_invalid)
write_records(smk.output.records, result.records)
report = result.report
log.info(
    "%d records kept (%d changed: %d spans dropped), %d rejected",
    report["records"],
    report["records_changed"],
    report["spans_dropped"],
    report["rejected"],
)
if report["records_changed"]:
    stage.say(
        log,
        f"{smk.input.data}: {report['records_changed']} records changed, "
        f"{report['spans_dropped']} spans dropped (duplicates, overlap policy "
        f"{smk.params.overlap_policy}); each one is listed in {smk.log[0]}",
    )
stage.finish(smk)
