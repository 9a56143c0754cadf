"""Heads: what a tagger computes on its emitter's outputs.

A head turns the emitter's outputs into scores, a training loss and decoded predictions,
and says how the decoded windows of a text become its character spans
(:mod:`nerflow.inference.predict`). :class:`TagHead` heads score one tag per labelled token
(:class:`~nerflow.models.softmax.SoftmaxHead`, :class:`~nerflow.models.crf.CRFHead`);
the span head (:class:`~nerflow.models.global_pointer.SpanHead`) scores every (start,
end, type) and may predict nested spans. :data:`nerflow.models.registry.HEADS` holds
them by name.

Label positions: training labels are ``-100`` on special tokens, padding and tokens that
carry no label (non-first sub-tokens). Tag heads only ever see the LABELLED positions,
gathered left-aligned (:func:`~nerflow.nn.positions.left_align`), so specials and
continuation pieces never enter decoding or the CRF's transitions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from nerflow.heads.decoder import Decoder
from nerflow.heads.spec import HeadSpec
from nerflow.text.tagging import label_types, parse_tag

GoldSpans = Sequence[Tensor] | None
"""Gold spans of a batch for :meth:`Head.loss`: one ``[k, 3]`` tensor of ``(first token,
last token, type index)`` per sequence (heads that :attr:`~Head.needs_spans`), or None."""


class Head(nn.Module):
    """Interface of a head over a fixed label list (``"O"`` first) and tagging scheme.

    Subclasses set :attr:`spec` (their torch-free half, :mod:`nerflow.heads`: the name,
    the ``head`` of experiments and of ``nerflow_head.json``, own settings and decoder),
    implement :meth:`scores` and :meth:`loss` (decoding, window merging and spans are the
    spec's decoder's: :attr:`decoder`), and are registered through their spec. A
    head owns its parameters (the CRF's scores; none for the others) and writes them into
    its :attr:`files` of a model folder.
    """

    name: ClassVar[str] = ""
    needs_spans: ClassVar[bool] = False
    """Whether training batches must carry the gold token spans."""
    files: ClassVar[tuple[str, ...]] = ()
    """Files :meth:`save` writes into a model folder."""
    setting_keys: ClassVar[tuple[str, ...]] = ()
    """The head's own settings: the experiment keys :meth:`create` reads."""
    pipeline_usable: ClassVar[bool] = False
    """Whether transformers' token-classification pipeline gives this head's entities
    (under a transformers emitter): model cards declare a ``pipeline_tag`` only then."""
    plain_load: ClassVar[tuple[str, str]] = ("nerflow", "")
    """Under a transformers emitter: the model card's ``library_name`` and what
    ``AutoModelForTokenClassification`` alone gives of this head's folder (formatted with
    ``tokenization``, ``max_len`` and ``stride``)."""

    spec: ClassVar[type[HeadSpec]]
    """The head's torch-free half (:mod:`nerflow.heads`): its :attr:`name`,
    :attr:`setting_keys` and :attr:`decoder_class` are the spec's."""
    decoder_class: ClassVar[type[Decoder]] = Decoder
    """What decodes the head's scores (without torch): an exported folder names it, so
    that onnxruntime decodes as the head does."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.name = cls.spec.name
            cls.setting_keys = cls.spec.setting_names()
            cls.decoder_class = cls.spec.decoder

    def __init__(self, labels: Sequence[str], scheme: str, **module_args: Any) -> None:
        super().__init__(**module_args)  # the next base: pytorch-crf's CRF for the CRF head
        self.labels = list(labels)
        self.scheme = scheme
        self.types = label_types(self.labels)
        self.decoder = self.decoder_class(self.labels, scheme)

    @classmethod
    def create(cls, labels: Sequence[str], scheme: str, settings: Mapping[str, Any]) -> Head:
        """The head of an experiment or a saved folder; ``settings``: its own (those of
        :attr:`setting_keys`, from the experiment or as :meth:`settings` saved them)."""
        return cls(labels, scheme)

    @classmethod
    def settings_of(cls, experiment: Any) -> dict[str, Any]:
        """The head's own settings (:attr:`setting_keys`) as an experiment block sets them."""
        return {key: getattr(experiment, key) for key in cls.setting_keys}

    @classmethod
    def from_saved(cls, labels: Sequence[str], scheme: str, settings: Mapping[str, Any]) -> Head:
        """The head of a model folder, from the settings :meth:`settings` saved (which
        :meth:`fit_to_train` settled)."""
        return cls.create(labels, scheme, settings)

    @classmethod
    def output_names(cls, labels: Sequence[str], settings: Mapping[str, Any]) -> list[str]:
        """What the emitter's output layer predicts for this head: one score per label."""
        return list(labels)

    @classmethod
    def export_name(cls, output: str) -> str:
        """The name of an emitter output in an exported transformers config's ``id2label``."""
        return output

    @property
    def outputs(self) -> list[str]:
        """The names of this head's emitter outputs (:meth:`output_names`)."""
        return list(self.labels)

    def settings(self) -> dict[str, Any]:
        """What a model folder keeps of the head's own settings (:meth:`create` reads it)."""
        return {}

    def fit_to_train(self, train_nesting: Mapping[str, int]) -> list[str]:
        """Settle the settings that depend on the training data (its nesting, see
        :func:`nerflow.data.spans.nesting`), once, before training; one line each to say."""
        return []

    @property
    def flat(self) -> bool:
        """Whether no two spans that its decoder gives for one text overlap. Tag
        heads decode tags: always."""
        return True

    def set_decoding(self, policy: str) -> None:
        """Decode ``flat`` or ``nested`` (the resolved ``span_decoding``, see
        :func:`nerflow.data.spans.resolve_span_decoding`). Only the span head can nest; tag
        heads are flat by construction and ignore it."""

    def scores(self, outputs: Tensor, labelled: Tensor) -> Tensor:
        """What the tagger returns for emitter ``outputs [batch, seq, n_outputs]``;
        ``labelled [batch, seq]`` (bool) marks the positions that may carry a label."""
        raise NotImplementedError

    def loss(self, scores: Tensor, labels: Tensor, spans: GoldSpans = None) -> Tensor:
        """Mean training loss of :meth:`scores` against ``labels [batch, seq]`` (``-100``
        where none) or, for heads that :attr:`needs_spans`, the gold ``spans``."""
        raise NotImplementedError

    def decode(self, scores: Tensor, label_mask: Tensor) -> list[list[Any]]:
        """Per sequence, the predictions on its labelled positions (``label_mask``): the
        :attr:`decoder`'s, on the scores in numpy."""
        scores = scores.detach().float().cpu().numpy()
        return self.decoder.decode(scores, label_mask.detach().bool().cpu().numpy())

    def save(self, out_dir: Path) -> None:
        """Write the head's parameters into ``out_dir`` (a head without any writes nothing)."""

    def load(self, model_dir: Path) -> None:
        """Read the parameters :meth:`save` wrote (``RuntimeError`` when they do not fit)."""


class TagHead(Head):
    """A head that predicts one tag per labelled token; its scores are the emitter's
    logits ``[batch, seq, n_labels]``."""

    @classmethod
    def export_name(cls, output: str) -> str:
        return pipeline_label(output)

    def scores(self, outputs: Tensor, labelled: Tensor) -> Tensor:
        return outputs


PIPELINE_PREFIXES = {"B": "B", "I": "I", "S": "B", "E": "I"}
"""Tag prefix -> the prefix the transformers token-classification pipeline groups by."""


def pipeline_label(tag: str) -> str:
    """The name of ``tag`` in an exported config's ``id2label``, for transformers' pipeline.

    ``transformers.pipeline("token-classification", aggregation_strategy="simple")`` knows
    only the ``B-``/``I-`` prefixes (anything else is read as a continuation of a type
    named by the whole string). So a single ``S-X`` is exported as ``B-X`` and an
    ending ``E-X`` as ``I-X``; ``B-X``, ``I-X`` and ``O`` are unchanged. On a valid
    BIOS/BIOES sequence the pipeline's BIO grouping then yields exactly the spans of
    :func:`nerflow.text.tagging.tags_to_spans`. Several ids may share a name. The type is
    kept verbatim (dashes, dots, digits, non-ASCII). Raises ``ValueError`` on a string
    that is not a tag.
    """
    prefix, entity_type = parse_tag(tag)
    if entity_type is None:
        return "O"
    return f"{PIPELINE_PREFIXES[prefix]}-{entity_type}"
