"""The released classifier folder: the trained model with a Hugging Face style card."""

from pathlib import Path

from nerflow import stage
from nerflow.classification.folder import read_meta
from nerflow.classification.modelcard import render_classifier_card
from nerflow.jsonio import read_json
from nerflow.report.modelcard import export_model, training_data

smk = snakemake  # noqa: F821
log = stage.start(smk)
released = Path(smk.output[0]).parent  # the folder whose card is the declared output


card = render_classifier_card(
    run=smk.wildcards.run,
    meta=read_meta(smk.input.trained),
    scores={
        split: read_json(path)
        for split, path in zip(smk.params.scored, smk.input.scores, strict=True)
    },
    data=training_data(
        smk.params.splits, smk.input.data, [read_json(p) for p in smk.input.reports]
    ),
    dataset=smk.params.dataset,
    model_dir=str(released),
)
export_model(smk.input.trained, released, card)
log.info("model card written to %s", smk.output[0])
stage.finish(smk, outputs=[released])  # the sidecar beside the folder, not in it
