"""The label set of a classification task: the configured one, or the classes of train."""

from nerflow import stage
from nerflow.classification.examples import label_set, read_examples
from nerflow.data.labels import write_labels

smk = snakemake  # noqa: F821
log = stage.start(smk)
train = read_examples(smk.input[0])
labels = label_set(train, smk.params.labels or None)
seen = sorted({str(example.label) for example in train})
write_labels(smk.output[0], labels, "config" if smk.params.labels else "train", seen)
log.info("%d classes: %s", len(labels), labels)
stage.finish(smk)
