"""Round-trip check: gold spans -> tags -> token labels -> restore -> spans."""

from transformers import AutoTokenizer

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.evaluation.roundtrip import roundtrip_report
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
tokenizer = AutoTokenizer.from_pretrained(smk.input.tokenizer)
report = roundtrip_report(
    read_records(smk.input.records),
    tokenizer,
    mode=smk.wildcards.mode,
    max_len=smk.params.max_len,
    scheme=smk.params.scheme,
    stride=smk.params.stride,
    truncate=smk.params.truncate,
)
report["split"] = smk.wildcards.split
report["tokenizer"] = smk.input.tokenizer
write_json(smk.output[0], report)
log.info(
    "%s/%s: %d of %d spans restored exactly, lost by reason %s",
    smk.wildcards.split,
    smk.wildcards.mode,
    report["restored_exactly"],
    report["spans_total"],
    report["lost_by_reason"],
)
stage.finish(smk)
