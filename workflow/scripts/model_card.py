"""The released model folder: the trained model with a Hugging Face style README.md card."""

import json
from pathlib import Path

from nerflow import stage
from nerflow.models.meta import read_model_meta
from nerflow.report.modelcard import export_model, render_model_card, training_data

smk = snakemake  # noqa: F821
log = stage.start(smk)


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


trained = smk.input.trained
card = render_model_card(
    run=smk.wildcards.run,
    meta=read_model_meta(Path(trained)).to_json(),
    summary=load(smk.input.summary),
    scores={
        split: load(path) for split, path in zip(smk.params.scored, smk.input.scores, strict=True)
    },
    data=training_data(smk.params.splits, smk.input.data, [load(p) for p in smk.input.reports]),
    experiment=smk.params.experiment,
    model_dir=smk.output[0],
)
export_model(trained, smk.output[0], card)
log.info("model card written to %s/README.md", smk.output[0])
stage.finish(smk)
