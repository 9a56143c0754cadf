"""The released model folder: the trained model with a Hugging Face style README.md card."""

from pathlib import Path

from nerflow import stage
from nerflow.jsonio import read_json
from nerflow.models.meta import read_model_meta
from nerflow.report.modelcard import export_model, render_model_card, training_data

smk = snakemake  # noqa: F821
log = stage.start(smk)
released = Path(smk.output[0]).parent  # the folder whose card is the declared output


trained = smk.input.trained
card = render_model_card(
    run=smk.wildcards.run,
    meta=read_model_meta(Path(trained)).to_json(),
    summary=read_json(smk.input.summary),
    scores={
        split: read_json(path)
        for split, path in zip(smk.params.scored, smk.input.scores, strict=True)
    },
    data=training_data(
        smk.params.splits, smk.input.data, [read_json(p) for p in smk.input.reports]
    ),
    experiment=smk.params.experiment,
    model_dir=str(released),
)
export_model(trained, released, card)
log.info("model card written to %s", smk.output[0])
stage.finish(smk, outputs=[released])  # the sidecar beside the folder, not in it
