"""Building a fresh tagger from an experiment's settings (random init for ``scratch`` and
``bilstm`` encoders, pretrained weights for a hub id or a local folder).

The entry points take an :class:`~nerflow.config.experiment.ExperimentConfig` or a mapping, read
once with its defaults (:meth:`~nerflow.section.Section.coerce`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nerflow.config.experiment import ExperimentConfig
from nerflow.features.featurizer import Featurizer, load_featurizer
from nerflow.models.bilstm import BiLSTMEmitter, bilstm_config
from nerflow.models.emitter import Emitter
from nerflow.models.registry import head_class, label_maps
from nerflow.models.tagger import TaggerModel
from nerflow.models.transformer import TransformerEmitter

Experiment = ExperimentConfig | Mapping[str, Any]
"""An experiment as the entry points take it."""


def feature_dir_of(exp: ExperimentConfig, tokenizer: Any) -> str | None:
    """Folder holding an experiment's feature assets: its ``feature_dir`` or, by default,
    the folder the tokenizer was loaded from (``tokenizer.name_or_path``)."""
    if exp.feature_dir:
        return str(exp.feature_dir)
    name = getattr(tokenizer, "name_or_path", None)
    return str(name) if name and Path(str(name)).is_dir() else None


def experiment_featurizer(exp: ExperimentConfig, tokenizer: Any) -> Featurizer | None:
    """The featurizer of an experiment's ``features`` block (None when it enables none)."""
    return load_featurizer(exp.features, feature_dir_of(exp, tokenizer))


def build_emitter(
    experiment: Experiment,
    labels: Sequence[str],
    tokenizer: Any,
    featurizer: Featurizer | None = None,
    plain_names: bool = False,
) -> Emitter:
    """The emission model of an experiment: ``encoder: bilstm`` or the transformer family
    (``scratch``, hub id or folder); ``featurizer`` adds its feature inputs. ``labels``
    names the outputs (:meth:`~nerflow.models.head.Head.output_names`); a transformers
    config gets them through :func:`~nerflow.models.registry.label_maps` (export names of
    the experiment's head), or as they are with ``plain_names`` (a classifier's classes).

    Other emitter families plug in here: build their emitter from the experiment and
    register the class in :data:`nerflow.models.registry.EMITTERS`.
    """
    exp = ExperimentConfig.coerce(experiment)
    if exp.encoder == BiLSTMEmitter.kind:
        return BiLSTMEmitter(bilstm_config(exp.bilstm, len(labels), tokenizer, featurizer))
    if plain_names:
        id2label = dict(enumerate(labels))
        label2id = {label: i for i, label in id2label.items()}
    else:
        id2label, label2id = label_maps(labels, exp.head)
    return TransformerEmitter.from_experiment(exp, id2label, label2id, tokenizer, featurizer)


def build_model(
    experiment: Experiment,
    labels: Sequence[str],
    tokenizer: Any,
    featurizer: Featurizer | None = None,
) -> TaggerModel:
    """A fresh :class:`TaggerModel` for an experiment.

    With a ``features`` block enabling any, the featurizer is loaded from the
    experiment's ``feature_dir`` (default: the tokenizer's folder, see
    :func:`feature_dir_of`) unless given.
    """
    exp = ExperimentConfig.coerce(experiment)
    head = head_class(exp.head)
    if featurizer is None:
        featurizer = experiment_featurizer(exp, tokenizer)
    settings = head.settings_of(exp)
    emitter = build_emitter(exp, head.output_names(labels, settings), tokenizer, featurizer)
    return TaggerModel(emitter, labels, exp.scheme, head.name, featurizer, settings)
