"""Experiment configuration: the settings of every stage and their defaults, in one place.

Each block of settings is a frozen dataclass whose field defaults are the only place a
default is written: the workflow fills its config from them (the JSON schema holds types
and bounds, no defaults; ``tests/test_config.py`` keeps the two in step). ``from_dict``
checks keys and types and names the bad key by its path (``experiments.x.train.lr``);
``to_dict`` gives the plain, fully defaulted dict.

Light on purpose (no torch import): the Snakefile reads it at parse time.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from functools import cache
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from nerflow.errors import UserError
from nerflow.text.tagging import Scheme
from nerflow.text.tokenization import Tokenization

SCRATCH_ENCODERS = ("scratch", "bilstm")
"""Encoders trained from random initialisation, with a character vocabulary of train."""

Head = Literal["softmax", "crf", "span"]
Device = Literal["auto", "cpu", "cuda"]
Amp = Literal["auto", "bf16", "fp16", "off"]
SelectMetric = Literal["micro_f1", "macro_f1", "clue_macro_f1"]

HEADS: tuple[str, ...] = get_args(Head)
DEVICES: tuple[str, ...] = get_args(Device)
AMP_MODES: tuple[str, ...] = get_args(Amp)
SELECT_METRICS: tuple[str, ...] = get_args(SelectMetric)

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


def from_scratch(encoder: str) -> bool:
    """True for encoders without pretrained weights (see :data:`SCRATCH_ENCODERS`)."""
    return encoder in SCRATCH_ENCODERS


class ConfigError(UserError, ValueError):
    """Settings that do not fit their dataclass; ``problems`` holds one ``path: reason``
    line each, the message all of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


S = TypeVar("S", bound="Section")


@dataclasses.dataclass(frozen=True)
class Section:
    """Base of the settings blocks: reading from and writing to plain dicts."""

    PATH: ClassVar[str] = "experiments.NAME"
    """Where the block sits in the workflow's config: the default path of messages."""

    @classmethod
    def from_dict(
        cls: type[S],
        mapping: Any,
        path: str | None = None,
        reserved: Mapping[str, str] | None = None,
    ) -> S:
        """The block of ``mapping`` (missing keys take their defaults). Raises
        :class:`ConfigError` listing every unknown key (with the keys allowed there),
        missing required key and value of the wrong type, each by its path under ``path``
        (default :attr:`PATH`).
        ``reserved``: ``{field: why}`` of fields the caller sets itself, refused in
        ``mapping`` with their reason and not offered as allowed keys."""
        problems: list[str] = []
        section = cls._read(mapping, path or cls.PATH, problems, reserved or {})
        if problems or section is None:
            raise ConfigError(problems)
        return section

    @classmethod
    def _read(
        cls: type[S], mapping: Any, path: str, problems: list[str], reserved: Mapping[str, str]
    ) -> S | None:
        """The block, or None with the reasons appended to ``problems``."""
        if not isinstance(mapping, Mapping):
            problems.append(f"{path}: {mapping!r} is not of type 'object'")
            return None
        before = len(problems)
        allowed = [f.name for f in dataclasses.fields(cls) if f.name not in reserved]
        for key in mapping:
            if key in reserved:
                problems.append(f"{path}.{key}: not a setting here: {reserved[key]}")
            elif key not in allowed:
                problems.append(f"{path}.{key}: unknown key; allowed: {', '.join(allowed)}")
        values = {}
        for field in dataclasses.fields(cls):
            where = f"{path}.{field.name}"
            if field.name in mapping:
                hint = field_types(cls)[field.name]
                values[field.name] = _value(hint, mapping[field.name], where, problems)
            elif field.default is dataclasses.MISSING:
                problems.append(f"{where}: required key is missing")
        return cls(**values) if len(problems) == before else None

    @classmethod
    def coerce(cls: type[S], settings: S | Mapping[str, Any] | None) -> S:
        """``settings`` as a block: a block is kept, a mapping read by :meth:`from_dict`
        (None: every default). For the entry points that also take plain dicts."""
        if isinstance(settings, cls):
            return settings
        return cls.from_dict({} if settings is None else settings)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain values (nested blocks as dicts), in field order."""
        return dataclasses.asdict(self)


@cache
def field_types(cls: type[Section]) -> dict[str, Any]:
    """The resolved annotation of each field of ``cls``, in field order."""
    hints = get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def _value(hint: Any, value: Any, where: str, problems: list[str]) -> Any:
    """``value`` checked against ``hint``: a nested block is read, a plain value kept as
    written (an integer stands for a float)."""
    if isinstance(hint, type) and issubclass(hint, Section):
        return hint._read(value, where, problems, {})
    if get_origin(hint) is Literal:
        if value not in get_args(hint):
            problems.append(f"{where}: {value!r} is not one of {list(get_args(hint))}")
    elif not any(_accepts(kind, value) for kind in _alternatives(hint)):
        expected = ", ".join(repr(json_type(kind)) for kind in _alternatives(hint))
        problems.append(f"{where}: {value!r} is not of type {expected}")
    return value


def _alternatives(hint: Any) -> tuple[Any, ...]:
    """The members of a union (``float | None``), else the type alone."""
    if get_origin(hint) in (Union, types.UnionType):
        return get_args(hint)
    return (hint,)


def _accepts(kind: type, value: Any) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def json_type(kind: Any) -> str:
    """The JSON schema type of a plain field type (``float`` -> ``number``)."""
    return _JSON_TYPES[kind]


# --------------------------------------------------------------------------- blocks


@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
    """Fine-tuning of an experiment."""

    PATH = "experiments.NAME.train"

    epochs: int = 3
    batch_size: int = 32
    lr: float = 3.0e-5
    head_lr: float = 3.0e-3
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 42
    patience: int = 2
    select_metric: SelectMetric = "micro_f1"
    amp: Amp = "auto"
    device: Device = "auto"
    eval_every_steps: int = 0
    max_minutes: float = 0
    ema_decay: float = 0
    fgm_epsilon: float = 0
    lac_encoder_lr: float = 3.0e-4


@dataclasses.dataclass(frozen=True)
class ScratchConfig(Section):
    """Size of a randomly initialised BERT (``encoder: scratch``)."""

    PATH = "experiments.NAME.scratch"

    layers: int = 4
    hidden: int = 256
    heads: int = 4
    intermediate: int = 1024
    dropout: float = 0.1


@dataclasses.dataclass(frozen=True)
class BiLSTMConfig(Section):
    """Size of the character BiLSTM (``encoder: bilstm``). ``hidden`` is per direction;
    ``embedding_dropout`` (None: ``dropout``) applies to the concatenated inputs,
    ``dropout`` to the LSTM outputs and between layers; ``token_dropout`` is the training
    share of characters replaced by the unknown id (their bigrams too). ``char_vectors``
    ``lac`` starts the character embeddings from the pretrained ones packaged with LAC
    (:func:`nerflow.features.lac_analyser.char_vectors`; needs ``embedding_dim`` 128)."""

    PATH = "experiments.NAME.bilstm"

    embedding_dim: int = 128
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.5
    embedding_dropout: float | None = None
    token_dropout: float = 0.0
    char_vectors: str | None = None


@dataclasses.dataclass(frozen=True)
class FeatureConfig(Section):
    """Extra character inputs of from-scratch encoders (``nerflow.features.featurizer`` says what
    each
    adds); ``lexicon_path`` None is jieba's own dictionary, ``*_dim`` are model sizes."""

    PATH = "experiments.NAME.features"

    bigram: bool = False
    lexicon: bool = False

    bigram_min_freq: int = 2
    lexicon_max_len: int = 8
    lexicon_path: str | None = None

    bigram_dim: int = 64
    lexicon_dim: int = 32

    lexicon_words: bool = False
    lexicon_word_min_freq: int = 1
    lexicon_word_k: int = 4
    lexicon_word_dim: int = 50

    gazetteer: bool = False
    gazetteer_folds: int = 5
    gazetteer_min_len: int = 2
    gazetteer_max_len: int = 16
    gazetteer_dim: int = 32

    lac: bool = False
    lac_dim: int = 32
    lac_scores: bool = False
    lac_scores_dim: int = 32
    lac_hidden: bool = False
    lac_hidden_dim: int = 128
    lac_encoder: bool = False
    lac_encoder_dim: int = 128


@dataclasses.dataclass(frozen=True)
class PretrainConfig(ScratchConfig):
    """A masked-LM pretraining run of a scratch BERT: its sizes
    (the fields of :class:`ScratchConfig`), then how it is trained. ``lexicon``: ``jieba``
    or a jieba-format dictionary file, used when ``whole_word``; ``eval_every_steps`` 0
    evaluates once per epoch; ``max_minutes`` 0 is no limit (a limit stops training early,
    the learning-rate schedule stays the one planned for ``epochs``)."""

    PATH = "pretraining.NAME"

    max_len: int = 64
    tokenization: Tokenization = "char"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 5.0e-4
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    mlm_probability: float = 0.15
    whole_word: bool = True
    lexicon: str = "jieba"
    heldout_fraction: float = 0.02
    eval_every_steps: int = 0
    seed: int = 42
    max_minutes: float = 0
    device: Device = "auto"


@dataclasses.dataclass(frozen=True)
class ExperimentConfig(Section):
    """One experiment: encoder, head, windows and its blocks.

    ``encoder``: a hub id, a ``save_pretrained`` folder, ``scratch``, ``bilstm`` or
    ``pretrained:NAME``. ``stride``: tokens shared by consecutive windows of ``max_len``.
    ``span_decoding`` (span head): ``flat`` keeps the best non-overlapping spans, ``nested``
    every span, ``auto`` flat when train is flat (:func:`nerflow.data.spans.resolve_span_decoding`).
    ``scheme`` and ``feature_dir`` (the folder of the feature assets, None: the tokenizer's)
    are set by the workflow (:data:`nerflow.config.check.WORKFLOW_KEYS`), not in its config.
    """

    encoder: str
    head: Head = "crf"
    tokenization: Tokenization = "char"
    max_len: int = 128
    stride: int = 32
    scheme: Scheme = "BIOS"
    span_head_size: int = 64
    span_decoding: Literal["auto", "flat", "nested"] = "auto"
    scratch: ScratchConfig = ScratchConfig()
    bilstm: BiLSTMConfig = BiLSTMConfig()
    features: FeatureConfig = FeatureConfig()
    train: TrainConfig = TrainConfig()
    feature_dir: str | None = None
