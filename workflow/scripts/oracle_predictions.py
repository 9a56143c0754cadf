"""Oracle run: gold tags through tokenisation and restore, written as predictions."""

from transformers import AutoTokenizer

from nerflow import stage
from nerflow.alignment import restore_spans, token_labels_from_spans, tokenize
from nerflow.records import Record, read_records, write_records

smk = snakemake  # noqa: F821
log = stage.start(smk)
tokenizer = AutoTokenizer.from_pretrained(smk.input.tokenizer)
predictions = []
for record in read_records(smk.input.records):
    tokens = tokenize(record.text, tokenizer, smk.params.mode, smk.params.max_len)
    labels, _lost = token_labels_from_spans(tokens, record.spans, smk.params.scheme)
    spans = restore_spans(tokens, labels, smk.params.scheme)
    predictions.append(Record(id=record.id, text=record.text, spans=spans))
write_records(smk.output[0], predictions)
log.info("%d oracle predictions", len(predictions))
stage.finish(smk, ["nerflow.alignment"])
