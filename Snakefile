import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
# The domain logic lives in the nerflow package (src/nerflow).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# The task (config key `task`, default ner) and what every task's rules use.
include: "workflow/rules/task.smk"
include: "workflow/rules/recovery.smk"
# The task's rule family, with its task_targets(): the inputs of `rule all`.
include: f"workflow/rules/{TASK.rules}"


rule all:
    default_target: True
    input:
        task_targets(),
