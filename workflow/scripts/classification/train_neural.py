"""Train a neural classifier; the best model by dev score, its log and summary."""

import sys

from nerflow import stage
from nerflow.classification.config import experiment_settings
from nerflow.classification.examples import read_examples
from nerflow.classification.training import train_neural
from nerflow.data.labels import read_labels
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
settings = experiment_settings(smk.wildcards.run, smk.params.experiment)
summary = train_neural(
    settings,
    read_examples(smk.input.train),
    read_examples(smk.input.dev),
    read_labels(smk.input.labels),
    smk.output.model,
    smk.output.log,
    smk.params.checkpoint_dir,
    threads=smk.threads,
    stream=sys.stderr,  # the job log
)
write_json(smk.output.summary, summary)
log.info("best %s %.4f", summary["select_metric"], summary["best_metric"] or 0.0)
stage.finish(smk)
