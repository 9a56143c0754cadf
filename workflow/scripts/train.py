"""Train one experiment; the best model by dev span F1 goes to results/{exp}/trained/model."""

import json
import sys
from pathlib import Path

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.data.labels import read_labels
from nerflow.jsonio import write_json
from nerflow.text.tagging import label_list
from nerflow.text.vocab import load_tokenizer
from nerflow.training.train import train

smk = snakemake  # noqa: F821
log = stage.start(smk)
# Feature assets (bigram vocabulary, lexicon) live in the experiment's tokenizer folder.
experiment = dict(
    smk.params.experiment, encoder=smk.params.encoder, feature_dir=smk.input.tokenizer
)
labels = label_list(read_labels(smk.input.labels), experiment["scheme"])
model_dir = Path(smk.output.model)
assert model_dir.name == "model", "train() writes the best model to out_dir/model"
summary = train(
    experiment,
    smk.input.cache,
    read_records(smk.input.dev),
    load_tokenizer(smk.input.tokenizer),
    labels,
    out_dir=model_dir.parent,
    log_path=smk.output.log,
    threads=smk.threads,
    checkpoint_dir=smk.params.checkpoint_dir,
    progress_stream=sys.stderr,  # the job log (bound after stage.start redirected it)
)
write_json(smk.output.summary, summary)
log.info("training summary: %s", json.dumps(summary))
stage.finish(smk)
