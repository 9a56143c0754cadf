"""Texts shared by several splits (leakage), duplicates and the class balance per split."""

from nerflow import stage
from nerflow.classification.examples import read_examples, split_overlap
from nerflow.jsonio import write_json

smk = snakemake  # noqa: F821
log = stage.start(smk)
splits = {
    split: read_examples(path) for split, path in zip(smk.params.splits, smk.input, strict=True)
}
report = split_overlap(splits)
write_json(smk.output[0], report)
if report["texts_in_several_splits"]:
    stage.say(
        log,
        f"{report['texts_in_several_splits']} texts appear in more than one split "
        f"({report['pairs']}); see {smk.output[0]}",
    )
stage.finish(smk)
