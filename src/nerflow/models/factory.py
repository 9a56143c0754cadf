"""Building a fresh tagger from an experiment config (random init for ``scratch`` and
``bilstm`` encoders, pretrained weights for a hub id or a local folder)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nerflow.features import Featurizer, load_featurizer
from nerflow.models.bilstm import BiLSTMEmitter, bilstm_config
from nerflow.models.emitter import Emitter
from nerflow.models.global_pointer import SPAN_HEAD_SIZE
from nerflow.models.registry import head_class, label_maps
from nerflow.models.tagger import TaggerModel
from nerflow.models.transformer import TransformerEmitter


def feature_dir_of(exp_cfg: dict, tokenizer: Any) -> str | None:
    """Folder holding an experiment's feature assets: ``exp_cfg["feature_dir"]`` or, by
    default, the folder the tokenizer was loaded from (``tokenizer.name_or_path``)."""
    explicit = exp_cfg.get("feature_dir")
    if explicit:
        return str(explicit)
    name = getattr(tokenizer, "name_or_path", None)
    return str(name) if name and Path(str(name)).is_dir() else None


def experiment_featurizer(exp_cfg: dict, tokenizer: Any) -> Featurizer | None:
    """The featurizer of an experiment's ``features`` block (None when it enables none)."""
    return load_featurizer(exp_cfg.get("features"), feature_dir_of(exp_cfg, tokenizer))


def build_emitter(
    exp_cfg: dict, labels: Sequence[str], tokenizer: Any, featurizer: Featurizer | None = None
) -> Emitter:
    """The emission model of an experiment: ``encoder: bilstm`` or the transformer family
    (``scratch``, hub id or folder); ``featurizer`` adds its feature inputs. ``labels``
    names the outputs (:meth:`~nerflow.models.head.Head.output_names`); a transformers
    config gets them through :func:`~nerflow.models.registry.label_maps` (export names of
    the head ``exp_cfg["head"]``, default softmax).

    Other emitter families plug in here: build their emitter from ``exp_cfg`` and
    register the class in :data:`nerflow.models.registry.EMITTERS`.
    """
    if str(exp_cfg["encoder"]) == BiLSTMEmitter.kind:
        return BiLSTMEmitter(bilstm_config(exp_cfg, len(labels), tokenizer, featurizer))
    id2label, label2id = label_maps(labels, str(exp_cfg.get("head", "softmax")))
    return TransformerEmitter.from_experiment(exp_cfg, id2label, label2id, tokenizer, featurizer)


def build_model(
    exp_cfg: dict, labels: Sequence[str], tokenizer: Any, featurizer: Featurizer | None = None
) -> TaggerModel:
    """A fresh :class:`TaggerModel` for an experiment config.

    With a ``features`` block, the featurizer is loaded from ``exp_cfg["feature_dir"]``
    (default: the tokenizer's folder, see :func:`feature_dir_of`) unless given.
    """
    head = head_class(exp_cfg["head"])
    if featurizer is None:
        featurizer = experiment_featurizer(exp_cfg, tokenizer)
    span_head_size = int(exp_cfg.get("span_head_size", SPAN_HEAD_SIZE))
    outputs = head.output_names(labels, span_head_size)
    emitter = build_emitter(exp_cfg, outputs, tokenizer, featurizer)
    return TaggerModel(emitter, labels, exp_cfg["scheme"], head.name, featurizer, span_head_size)
