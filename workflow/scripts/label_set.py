"""Fix the label set: the configured labels, or the types found in train."""

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.data.labels import write_labels
from nerflow.data.records import entity_types

smk = snakemake  # noqa: F821
log = stage.start(smk)
derived = entity_types(read_records(smk.input[0]))
labels = list(smk.params.labels) or derived
source = "config" if smk.params.labels else "train"
write_labels(smk.output[0], labels, source, derived)
log.info("%d labels from %s: %s", len(labels), source, ", ".join(labels))
stage.finish(smk)
