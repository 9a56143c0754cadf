# What every task's rules use: the task this run does (config key `task`, default ner;
# nerflow.tasks.registry) and script_code, the code fingerprint of a rule's script.
from pathlib import Path

from nerflow.provenance import script_code as _script_code
from nerflow.tasks.registry import task_of_config

TASK = task_of_config(config)


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
