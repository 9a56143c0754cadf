"""The heads and emitters a tagger can be built from, by name.

Heads are registered by their torch-free spec (:data:`nerflow.heads.registry.HEAD_SPECS`),
which names its :class:`~nerflow.models.head.Head` class: :data:`HEADS` imports them. Register
an
:class:`~nerflow.models.emitter.Emitter` subclass in :data:`EMITTERS` (by
:attr:`~nerflow.models.emitter.Emitter.kind`; an emitter also needs a branch in
:func:`nerflow.models.factory.build_emitter`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from nerflow.heads.registry import HEAD_SPECS
from nerflow.heads.spec import HeadSpec
from nerflow.models.bilstm import BiLSTMEmitter
from nerflow.models.emitter import Emitter
from nerflow.models.head import Head
from nerflow.models.transformer import TransformerEmitter


def _head_class(spec: type[HeadSpec]) -> type[Head]:
    module, _, name = spec.head_class.partition(":")
    head = getattr(importlib.import_module(module), name)
    if not (isinstance(head, type) and issubclass(head, Head) and head.spec is spec):
        raise TypeError(f"head {spec.name!r}: {spec.head_class} is not its Head class")
    return head


HEADS: dict[str, type[Head]] = {name: _head_class(spec) for name, spec in HEAD_SPECS.items()}
"""Head classes by :attr:`Head.name` (the experiment's ``head``), from the specs."""
EMITTERS: dict[str, type[Emitter]] = {
    emitter.kind: emitter for emitter in (TransformerEmitter, BiLSTMEmitter)
}
"""Emitter classes by :attr:`Emitter.kind`, used by :func:`nerflow.models.folder.load_model`."""


def head_class(name: str) -> type[Head]:
    """The head class called ``name`` (``ValueError`` for an unknown one)."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; expected one of {tuple(HEADS)}")
    return HEADS[name]


def label_maps(outputs: Sequence[str], head: str) -> tuple[dict[int, str], dict[str, int]]:
    """``(id2label, label2id)`` of an emitter's ``outputs`` for a transformers config.

    ``id2label`` holds the head's export names (:meth:`Head.export_name`): for tag heads the
    :func:`~nerflow.models.head.pipeline_label` names, so that transformers'
    token-classification pipeline groups BIOS/BIOES outputs like BIO; the span head's
    outputs (``name:q0``, ...) are not tags and stay unchanged. ``label2id`` maps the
    outputs themselves (the real tag names) to their ids.
    """
    names = [head_class(head).export_name(output) for output in outputs]
    return dict(enumerate(names)), {output: i for i, output in enumerate(outputs)}
