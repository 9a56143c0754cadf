import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
# The domain logic lives in the nerflow package (src/nerflow).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/recovery.smk"
include: "workflow/rules/common.smk"


wildcard_constraints:
    split="|".join(SPLITS),
    scheme="|".join(SCHEMES),
    mode="|".join(TOKENIZATIONS),
    run="[A-Za-z0-9][A-Za-z0-9_.-]*",
    name="[A-Za-z0-9][A-Za-z0-9_.-]*",


include: "workflow/rules/data.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/tagging.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/deliver.smk"
include: "workflow/rules/report_common.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        report_targets(),
