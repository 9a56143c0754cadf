# The named entity recognition task: its rule family and its default targets.


include: "common.smk"


wildcard_constraints:
    split="|".join(SPLITS),
    scheme="|".join(SCHEMES),
    mode="|".join(TOKENIZATIONS),
    run="[A-Za-z0-9][A-Za-z0-9_.-]*",
    name="[A-Za-z0-9][A-Za-z0-9_.-]*",


include: "data.smk"
include: "analysis.smk"
include: "tagging.smk"
include: "pretrain.smk"
include: "train.smk"
include: "evaluate.smk"
include: "ensemble.smk"
include: "deliver.smk"
include: "report_common.smk"
include: "report.smk"


def task_targets():
    """The inputs of `rule all` (Snakefile)."""
    return [*all_targets(), *report_targets()]
