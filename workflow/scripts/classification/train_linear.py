"""Fit a linear (bag-of-n-grams) classifier; its model folder and training summary."""

from nerflow import stage
from nerflow.classification.config import experiment_settings
from nerflow.classification.examples import read_examples
from nerflow.classification.training import train_linear
from nerflow.data.labels import read_labels
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
settings = experiment_settings(smk.wildcards.run, smk.params.experiment)
summary = train_linear(
    settings,
    read_examples(smk.input.train),
    read_examples(smk.input.dev),
    read_labels(smk.input.labels),
    smk.output.model,
)
write_json(smk.output.summary, summary)
log.info("dev accuracy %.4f, macro F1 %.4f", summary["dev_accuracy"], summary["dev_macro_f1"])
stage.finish(smk)
