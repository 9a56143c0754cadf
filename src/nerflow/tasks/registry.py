"""The registry of tasks: the config's ``task`` key names one of :data:`TASKS`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nerflow.errors import UserError
from nerflow.tasks.task import Task, first_owner

DEFAULT_TASK = "ner"

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            "ner",
            "named entity recognition: CLUENER-style span-annotated JSON lines",
            rules="ner.smk",
            marker="nerflow_head.json",
            annotator="nerflow.inference.annotate:annotate_folders",
        ),
        Task(
            "classification",
            "sentence classification: labelled texts in TSV, CSV or JSON lines",
            rules="classification.smk",
            marker="classifier.json",
            annotator="nerflow.classification.predict:annotate_folders",
        ),
    )
}


class TaskError(ValueError, UserError):
    """An unknown task name, or a model folder that no task owns."""


def task_named(name: str) -> Task:
    if name not in TASKS:
        raise TaskError(f"task: {name!r} is not one of {sorted(TASKS)}")
    return TASKS[name]


def task_of_config(config: Mapping[str, Any]) -> Task:
    """The task of a workflow config (``task``, default :data:`DEFAULT_TASK`)."""
    name = config.get("task") or DEFAULT_TASK
    if not isinstance(name, str):
        raise TaskError(f"task: expected a name of {sorted(TASKS)}, got {name!r}")
    return task_named(name)


def task_of_folder(model_dir: str | Path) -> Task:
    """The task whose model folders look like ``model_dir``."""
    task = first_owner(TASKS.values(), model_dir)
    if task is None:
        markers = ", ".join(f"{t.marker} ({t.name})" for t in TASKS.values())
        raise TaskError(
            f"{model_dir}: not a nerflow model folder: it holds none of {markers}; give a "
            "folder written by training, such as results/RUN/model"
        )
    return task
