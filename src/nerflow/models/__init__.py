"""Tagging models: an emission model (any :class:`Emitter`) under a softmax, CRF or span head.

One module per part, each named for what it is:

- emitters (token ids -> per-token outputs): :mod:`~nerflow.models.emitter` (the
  interface), :mod:`~nerflow.models.transformer` (``encoder: scratch``, a hub id or a
  folder), :mod:`~nerflow.models.bilstm` (``encoder: bilstm``) and
  :mod:`~nerflow.features.embeddings` (embeddings of the input features);
- heads (scores, loss, decoding, window merging): :mod:`~nerflow.models.head` (the
  interface and the tag heads' shared decoding), :mod:`~nerflow.models.softmax`,
  :mod:`~nerflow.models.crf`, and
  :mod:`~nerflow.models.global_pointer` (the span head, which may predict nested spans);
- the tagger that joins them (:mod:`~nerflow.models.tagger`), the classes by name
  (:mod:`~nerflow.models.registry`), building from an experiment
  (:mod:`~nerflow.models.factory`) and the model folder (:mod:`~nerflow.models.folder`).

Import from the module that defines a name: this file imports nothing, so that a stage's
code fingerprint holds only the modules it runs.

Layer: above :mod:`nerflow.features`; below training and inference.
"""
