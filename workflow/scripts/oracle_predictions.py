"""Oracle run: gold labels through the prediction chain (windows, restore) as predictions."""

from transformers import AutoTokenizer

from nerflow import stage
from nerflow.data.cluener import read_records, write_records
from nerflow.evaluation.roundtrip import oracle_predictions

smk = snakemake  # noqa: F821
log = stage.start(smk)
count = write_records(
    smk.output[0],
    oracle_predictions(
        read_records(smk.input.records),
        AutoTokenizer.from_pretrained(smk.input.tokenizer),
        smk.params.mode,
        smk.params.max_len,
        smk.params.stride,
        smk.params.scheme,
        smk.params.truncate,
    ),
)
log.info("%d oracle predictions", count)
stage.finish(smk)
