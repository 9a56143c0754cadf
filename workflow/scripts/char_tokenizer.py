"""Build a character vocabulary from the train texts, saved as a tokenizer folder."""

from nerflow import stage
from nerflow.records import read_records
from nerflow.vocab import build_char_vocab, save_char_tokenizer

smk = snakemake  # noqa: F821
log = stage.start(smk)
vocab = build_char_vocab(record.text for record in read_records(smk.input[0]))
save_char_tokenizer(vocab, smk.output[0])
log.info("vocabulary of %d tokens", len(vocab))
stage.finish(smk, ["nerflow.vocab"])
