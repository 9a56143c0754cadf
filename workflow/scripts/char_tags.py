"""Write character-level tags (char TAB tag, a blank line between records)."""

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.text.tagging import spans_to_tags, write_tag_file

smk = snakemake  # noqa: F821
log = stage.start(smk)
scheme = smk.wildcards.scheme
records = read_records(smk.input[0])
write_tag_file(
    smk.output[0],
    ((record.text, spans_to_tags(len(record.text), record.spans, scheme)) for record in records),
)
log.info("%d records tagged with %s", len(records), scheme)
stage.finish(smk)
