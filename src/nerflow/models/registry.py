"""The heads and emitters a tagger can be built from, by name.

Other families plug in here: register a :class:`~nerflow.models.head.Head` subclass in
:data:`HEADS` (by :attr:`~nerflow.models.head.Head.name`) or an
:class:`~nerflow.models.emitter.Emitter` subclass in :data:`EMITTERS` (by
:attr:`~nerflow.models.emitter.Emitter.kind`; an emitter also needs a branch in
:func:`nerflow.models.factory.build_emitter`).
"""

from __future__ import annotations

from collections.abc import Sequence

from nerflow.models.bilstm import BiLSTMEmitter
from nerflow.models.crf import CRFHead
from nerflow.models.emitter import Emitter
from nerflow.models.global_pointer import SpanHead
from nerflow.models.head import Head
from nerflow.models.softmax import SoftmaxHead
from nerflow.models.transformer import TransformerEmitter

HEADS: dict[str, type[Head]] = {head.name: head for head in (SoftmaxHead, CRFHead, SpanHead)}
"""Head classes by :attr:`Head.name` (the experiment's ``head``)."""
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
