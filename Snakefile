import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
# The domain logic lives in the nerflow package (src/nerflow).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from nerflow.provenance import script_code as _script_code
from nerflow.tasks.registry import task_of_config


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


def script_code(name):
    """The ``code`` param of the rules that run ``workflow/scripts/{name}.py``. It holds
    the nerflow modules that script imports (transitively, read from its import
    statements, never typed) and their fingerprint. Editing one of them makes exactly the
    rules whose scripts run it stale; the stage records the value in its provenance.
    tests/test_staleness.py checks that each rule names its own script here."""
    return _script_code(
        Path(workflow.basedir) / "workflow" / "scripts" / f"{name}.py",
        Path(workflow.basedir) / "src" / "nerflow",
    )


# The task (config key ``task``, default ner) brings its rule family and its
# task_targets(), the inputs of `rule all`.
TASK = task_of_config(config)


include: "workflow/rules/recovery.smk"
include: "workflow/rules/" + TASK.rules


rule all:
    default_target: True
    input:
        task_targets(),
