"""What a task brings: its rule family, its model folders and how a folder predicts.

A task is a vertical slice over the shared layers (records and rejections, settings
blocks, stages and provenance, tokenisation and input features, emitters, the training
loop): its own record type and validation, cache, model, prediction, scores and report
pages. The workflow picks one by the config's ``task`` key and includes its rule file;
``nerflow predict`` picks one by the model folder it is given. Adding a task is a new
subpackage, its rule file and scripts, and one entry in :data:`nerflow.tasks.registry.TASKS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Annotator = Callable[..., Iterator[dict[str, Any]]]
"""``annotator(model_dirs, texts, **options)``: output objects, one per input text
(:class:`nerflow.data.user_texts.InputText`), in input order; ``options`` are those of
:data:`ANNOTATOR_OPTIONS` (None: the model's own)."""
ANNOTATOR_OPTIONS = ("device", "batch_size", "max_len", "stride", "min_votes", "threads")
"""What ``nerflow predict`` passes every annotator (a task refuses those it cannot honour)."""


@dataclass(frozen=True)
class Task:
    """One task. ``rules``: its rule file under ``workflow/rules`` (which includes the rest
    of its family and defines ``rule all``); ``marker``: a file every model folder of the
    task holds and no other task's does; ``annotator``: the import path
    ``"module:function"`` of its :data:`Annotator` (imported only when used, so reading
    the registry stays free of torch)."""

    name: str
    description: str
    rules: str
    marker: str
    annotator: str

    def owns(self, model_dir: str | Path) -> bool:
        return (Path(model_dir) / self.marker).is_file()

    def load_annotator(self) -> Annotator:
        from importlib import import_module

        module, function = self.annotator.split(":")
        return getattr(import_module(module), function)


def first_owner(tasks: Iterable[Task], model_dir: str | Path) -> Task | None:
    return next((task for task in tasks if task.owns(model_dir)), None)
