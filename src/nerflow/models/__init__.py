"""Tagging models: an emission model (any :class:`Emitter`) under a softmax, CRF or span head.

One module per part, each named for what it is:

- emitters (token ids -> per-token outputs): :mod:`~nerflow.models.emitter` (the
  interface), :mod:`~nerflow.models.transformer` (``encoder: scratch``, a hub id or a
  folder), :mod:`~nerflow.models.bilstm` (``encoder: bilstm``) and
  :mod:`~nerflow.models.feature_inputs` (embeddings of the input features);
- heads (scores, loss, decoding, window merging): :mod:`~nerflow.models.head` (the
  interface and the tag heads' shared decoding), :mod:`~nerflow.models.softmax`,
  :mod:`~nerflow.models.crf` with its :mod:`~nerflow.models.constraints` (the moves a
  tagging scheme allows) and :mod:`~nerflow.models.viterbi`, and
  :mod:`~nerflow.models.global_pointer` (the span head, which may predict nested spans);
- the tagger that joins them (:mod:`~nerflow.models.tagger`), the classes by name
  (:mod:`~nerflow.models.registry`), building from an experiment
  (:mod:`~nerflow.models.factory`) and the model folder (:mod:`~nerflow.models.folder`).

This package re-exports the names callers use.
"""

from nerflow.models.bilstm import (
    BILSTM_CONFIG_FILE,
    BILSTM_WEIGHTS_FILE,
    BiLSTMEmitter,
    bilstm_config,
)
from nerflow.models.constraints import allowed_transitions
from nerflow.models.crf import CRF_FILE, TRAIN_PENALTY, CRFHead
from nerflow.models.emitter import Emitter
from nerflow.models.factory import (
    build_emitter,
    build_model,
    experiment_featurizer,
    feature_dir_of,
)
from nerflow.models.feature_inputs import FEATURE_SIZE_KEYS, FeatureInputs, feature_sizes
from nerflow.models.folder import HEAD_FILE, load_model, save_model
from nerflow.models.global_pointer import SpanHead
from nerflow.models.head import PIPELINE_PREFIXES, Head, TagHead, pipeline_label
from nerflow.models.positions import left_align
from nerflow.models.registry import EMITTERS, HEADS, head_class, label_maps
from nerflow.models.softmax import SoftmaxHead
from nerflow.models.tagger import TaggerModel, count_parameters
from nerflow.models.transformer import (
    EMITTER_FEATURES_CONFIG,
    EMITTER_FEATURES_FILE,
    TransformerEmitter,
)

__all__ = [
    "BILSTM_CONFIG_FILE",
    "BILSTM_WEIGHTS_FILE",
    "CRF_FILE",
    "EMITTERS",
    "EMITTER_FEATURES_CONFIG",
    "EMITTER_FEATURES_FILE",
    "FEATURE_SIZE_KEYS",
    "HEADS",
    "HEAD_FILE",
    "PIPELINE_PREFIXES",
    "TRAIN_PENALTY",
    "BiLSTMEmitter",
    "CRFHead",
    "Emitter",
    "FeatureInputs",
    "Head",
    "SoftmaxHead",
    "SpanHead",
    "TagHead",
    "TaggerModel",
    "TransformerEmitter",
    "allowed_transitions",
    "bilstm_config",
    "build_emitter",
    "build_model",
    "count_parameters",
    "experiment_featurizer",
    "feature_dir_of",
    "feature_sizes",
    "head_class",
    "label_maps",
    "left_align",
    "load_model",
    "pipeline_label",
    "save_model",
]
