"""An ensemble's predictions: a span-level vote over its members' prediction files."""

from nerflow import stage
from nerflow.data.cluener import read_records, write_records
from nerflow.inference.ensemble import vote

smk = snakemake  # noqa: F821
log = stage.start(smk)
members = [read_records(path) for path in smk.input]
voted = vote(members, smk.params.min_votes)
write_records(smk.output[0], voted)
for name, predictions in zip(smk.params.members, members, strict=True):
    log.info("%s: %d spans", name, sum(len(record.spans) for record in predictions))
log.info("vote: %d spans in %d records", sum(len(r.spans) for r in voted), len(voted))
stage.finish(smk)
