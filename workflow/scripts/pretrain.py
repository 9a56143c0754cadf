"""Masked-LM pretraining of a scratch encoder on the unlabelled train and test texts."""

import json
from pathlib import Path

from nerflow import stage
from nerflow.data.cluener import read_records
from nerflow.pretraining.pretrain import pretrain_mlm

smk = snakemake  # noqa: F821
log = stage.start(smk)
paths = [smk.input.texts] if isinstance(smk.input.texts, str) else list(smk.input.texts)
if any(Path(path).name.split(".")[0] == "dev" for path in paths):
    raise ValueError(f"pretraining must never see the dev texts: {paths}")
texts = [record.text for path in paths for record in read_records(path)]
log.info("%d texts from %s", len(texts), ", ".join(paths))
summary = pretrain_mlm(
    texts,
    smk.input.tokenizer,
    smk.output.model,
    config=dict(smk.params.config),
    threads=smk.threads,
    log_path=smk.output.log,
    checkpoint_dir=smk.params.checkpoint_dir,
)
log.info("summary %s", json.dumps(summary, sort_keys=True))
stage.finish(smk)
