"""Tagging models: an emission model (any :class:`Emitter`) plus a softmax, CRF or span head.

Heads: ``softmax`` and ``crf`` score one tag per labelled token; ``span`` (GlobalPointer,
:mod:`nerflow.span_head`) scores every (start, end, type) and may predict nested spans;
its emitter outputs ``2 * n_types * span_head_size`` values per token instead of tags.

Emitters:

- ``transformers`` (``encoder: scratch``, a hub id or a local folder): a plain
  ``AutoModelForTokenClassification`` (BERT-like), so a saved model folder loads with
  ``AutoModelForTokenClassification.from_pretrained(folder)`` -- unless the experiment
  uses input ``features``: their embeddings (``emitter_features.safetensors``) are added
  to the word embeddings by :class:`TransformerEmitter` only, a plain AutoModel ignores them.
  For softmax/CRF heads the config's ``id2label`` holds pipeline-compatible names
  (:func:`pipeline_label`: ``S-X`` -> ``B-X``, ``E-X`` -> ``I-X``) so that
  ``transformers.pipeline("token-classification", aggregation_strategy="simple")`` groups
  BIOS/BIOES outputs into the same entities as BIO; ``label2id`` maps the real tags to
  their ids and ``nerflow_head.json`` keeps the real label list (what :func:`load_model`
  uses);
- ``bilstm`` (``encoder: bilstm``): :class:`BiLSTMEmitter`, character (token id)
  embeddings, optionally concatenated with bigram and lexicon features
  (:mod:`nerflow.features`), a bidirectional LSTM and a linear classifier. It is NOT a
  transformers model: its weights are ``bilstm.safetensors`` and its sizes
  ``nerflow_bilstm.json``; load it with :func:`load_model` only.

The CRF parameters live next to the emitter in ``crf.safetensors``, the head
description in ``nerflow_head.json`` and, for experiments with features, the feature
assets (bigram vocabulary, lexicon) next to them, so a model folder is self-contained.

Label positions: training labels are ``-100`` on special tokens, padding and tokens that
carry no label (non-first sub-tokens). The CRF only ever sees the LABELLED positions,
gathered left-aligned, so specials and continuation pieces never enter its transitions.
Impossible transitions of the tagging scheme (``O -> I-X``, ``B-X -> I-Y``, a BIOES
entity left open, a one-position BIOS entity written ``B``, ...) are derived from
:func:`nerflow.tagging.is_valid_sequence` and forbidden: with a large penalty in the
training likelihood and with ``-inf`` at Viterbi decoding, so CRF decoding never yields
a sequence that ``is_valid_sequence`` rejects.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.func import functional_call

from nerflow.atomic import atomic_model_folder
from nerflow.features import Featurizer, load_featurizer, unpack_bit_words, unpack_bits
from nerflow.optim import decay_groups
from nerflow.span_head import decode_spans, multilabel_crossentropy, span_scores, span_targets
from nerflow.tagging import check_scheme, is_valid_sequence, label_list, label_types, parse_tag
from nerflow.tensors import IGNORE_INDEX, resolve_device
from nerflow.vocab import check_encoder_source, encoder_error

HEADS = ("softmax", "crf", "span")
SPAN_HEAD_SIZE = 64
HEAD_FILE = "nerflow_head.json"
CRF_FILE = "crf.safetensors"
BILSTM_CONFIG_FILE = "nerflow_bilstm.json"
BILSTM_WEIGHTS_FILE = "bilstm.safetensors"
EMITTER_FEATURES_CONFIG = "emitter_features.json"
EMITTER_FEATURES_FILE = "emitter_features.safetensors"
BILSTM_DEFAULTS: dict[str, Any] = {
    "embedding_dim": 128,
    "hidden": 256,
    "layers": 1,
    "dropout": 0.5,
    "embedding_dropout": None,
    "token_dropout": 0.0,
}
"""Sizes of ``encoder: bilstm`` (``hidden`` per direction; ``embedding_dropout`` defaults
to ``dropout``: it applies to the concatenated inputs, ``dropout`` to the LSTM outputs
and between LSTM layers; ``token_dropout``: in training, the probability that a
character is replaced by ``[UNK]``, its bigrams with the unknown bigram)."""
TRAIN_PENALTY = -1.0e4
"""Score added to forbidden CRF transitions in the training likelihood (finite: no NaNs)."""


# --------------------------------------------------------------------------- constraints


@cache
def _allowed_patterns(scheme: str) -> tuple[frozenset, frozenset, frozenset]:
    """Allowed (start, transition, end) patterns of ``scheme``, found with the strict checker.

    Patterns abstract over entity types: a start/end pattern is a prefix, a transition
    pattern is ``(prefix_a, prefix_b, same_type)``. Each is allowed when some short valid
    sequence over two synthetic types exhibits it (one tag of context either side is
    enough for BIO, BIOS and BIOES, whose validity is first-order).
    """
    tags = label_list(["X", "Y"], scheme)
    context: list[list[str]] = [[]] + [[tag] for tag in tags]
    starts: set[str] = set()
    ends: set[str] = set()
    transitions: set[tuple[str, str, bool]] = set()
    for a in tags:
        for after in context:
            if is_valid_sequence([a, *after], scheme):
                starts.add(parse_tag(a)[0])
            if is_valid_sequence([*after, a], scheme):
                ends.add(parse_tag(a)[0])
    for a, b in itertools.product(tags, repeat=2):
        key = _pattern(a, b)
        if key in transitions:
            continue
        if any(
            is_valid_sequence([*before, a, b, *after], scheme)
            for before in context
            for after in context
        ):
            transitions.add(key)
    return frozenset(starts), frozenset(transitions), frozenset(ends)


def _pattern(a: str, b: str) -> tuple[str, str, bool]:
    (prefix_a, type_a), (prefix_b, type_b) = parse_tag(a), parse_tag(b)
    return prefix_a, prefix_b, type_a is not None and type_a == type_b


def allowed_transitions(
    labels: Sequence[str], scheme: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boolean masks ``(start [C], transitions [C, C], end [C])`` of allowed tag moves.

    ``transitions[i, j]`` is True when label ``j`` may follow label ``i``. A tag sequence
    is valid for ``scheme`` exactly when its first tag is an allowed start, every adjacent
    pair an allowed transition and its last tag an allowed end.
    """
    check_scheme(scheme)
    starts, transitions, ends = _allowed_patterns(scheme)
    prefixes = [parse_tag(label)[0] for label in labels]
    start = torch.tensor([p in starts for p in prefixes], dtype=torch.bool)
    end = torch.tensor([p in ends for p in prefixes], dtype=torch.bool)
    trans = torch.tensor(
        [[_pattern(a, b) in transitions for b in labels] for a in labels], dtype=torch.bool
    )
    return start, trans, end


# --------------------------------------------------------------------------- emitters


class Emitter(nn.Module):
    """Interface of an emission model: token ids -> per-token label scores.

    Subclasses set :attr:`kind` (the name stored in ``nerflow_head.json``), implement
    :meth:`forward`, :meth:`head_parameters`, :meth:`save` and :meth:`load`, and register
    themselves in :data:`EMITTERS` so :func:`load_model` can rebuild them. Emitters that
    use input features (:mod:`nerflow.features`) take them as keyword tensors
    (``bigram_ids``, ``lexicon_bits``) after ``attention_mask``.
    """

    kind: ClassVar[str] = ""

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> torch.Tensor:
        """Emission scores ``[batch, seq, num_labels]``."""
        raise NotImplementedError

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters that get the head learning rate (the freshly initialised output layer)."""
        raise NotImplementedError

    def save(self, out_dir: Path) -> None:
        """Write the emitter into ``out_dir`` (which exists)."""
        raise NotImplementedError

    @classmethod
    def load(cls, model_dir: Path) -> Emitter:
        """Rebuild an emitter saved with :meth:`save`."""
        raise NotImplementedError


class FeatureInputs(nn.Module):
    """Embeddings of the input features: ``[batch, seq, output_dim]``.

    Bigrams: one embedding table, the left and right bigram of each position
    concatenated (``2 * bigram_dim``); lexicon: the BMES multi-hot bits through a linear
    layer (``lexicon_dim``); lexicon words: the mean embedding of the matched words of
    each of the B, M and E sets (``3 * word_dim``); gazetteer: its per-type BMES bits
    through a linear layer (``gazetteer_dim``). Sizes of 0 switch a feature off.
    """

    def __init__(
        self,
        bigram_vocab_size: int,
        bigram_dim: int,
        lexicon_bits: int,
        lexicon_dim: int,
        word_vocab_size: int = 0,
        word_dim: int = 0,
        gazetteer_bits: int = 0,
        gazetteer_dim: int = 0,
    ) -> None:
        super().__init__()
        self.sizes = {
            "bigram_vocab_size": int(bigram_vocab_size),
            "bigram_dim": int(bigram_dim) if bigram_vocab_size else 0,
            "lexicon_bits": int(lexicon_bits),
            "lexicon_dim": int(lexicon_dim) if lexicon_bits else 0,
            "word_vocab_size": int(word_vocab_size),
            "word_dim": int(word_dim) if word_vocab_size else 0,
            "gazetteer_bits": int(gazetteer_bits),
            "gazetteer_dim": int(gazetteer_dim) if gazetteer_bits else 0,
        }
        self.bigram = (
            nn.Embedding(bigram_vocab_size, bigram_dim, padding_idx=0)
            if bigram_vocab_size
            else None
        )
        self.lexicon = nn.Linear(lexicon_bits, lexicon_dim) if lexicon_bits else None
        self.words = (
            nn.Embedding(word_vocab_size, word_dim, padding_idx=0) if word_vocab_size else None
        )
        self.gazetteer = nn.Linear(gazetteer_bits, gazetteer_dim) if gazetteer_bits else None

    @classmethod
    def for_featurizer(cls, featurizer: Featurizer | None) -> FeatureInputs | None:
        """The inputs module of a featurizer (None when it has no features)."""
        if featurizer is None or not featurizer.tensor_names:
            return None
        return cls(**feature_sizes(featurizer))

    @property
    def names(self) -> list[str]:
        modules = (
            ("bigram_ids", self.bigram),
            ("lexicon_bits", self.lexicon),
            ("lexicon_word_ids", self.words),
            ("gazetteer_bits", self.gazetteer),
        )
        return [name for name, module in modules if module is not None]

    @property
    def output_dim(self) -> int:
        sizes = self.sizes
        return (
            2 * sizes["bigram_dim"]
            + sizes["lexicon_dim"]
            + 3 * sizes["word_dim"]
            + sizes["gazetteer_dim"]
        )

    def forward(self, **features: torch.Tensor) -> torch.Tensor:
        unexpected = sorted(set(features) - set(self.names))
        missing = sorted(set(self.names) - set(features))
        if unexpected or missing:
            raise ValueError(
                f"feature tensors: missing {missing}, unexpected {unexpected} (the model "
                f"uses {self.names}; pass the featurizer's tensors to forward/decode)"
            )
        parts = []
        if self.bigram is not None:
            parts.append(self.bigram(features["bigram_ids"]).flatten(-2))
        if self.lexicon is not None:
            parts.append(
                self.lexicon(unpack_bits(features["lexicon_bits"], self.sizes["lexicon_bits"]))
            )
        if self.words is not None:
            ids = features["lexicon_word_ids"]  # [batch, seq, 3, k]
            counts = (ids != 0).sum(dim=-1, keepdim=True).clamp(min=1)
            pooled = self.words(ids).sum(dim=-2) / counts.to(self.words.weight.dtype)
            parts.append(pooled.flatten(-2))
        if self.gazetteer is not None:
            bits = unpack_bit_words(features["gazetteer_bits"], self.sizes["gazetteer_bits"])
            parts.append(self.gazetteer(bits))
        return torch.cat(parts, dim=-1)


FEATURE_SIZE_KEYS = (
    "bigram_vocab_size",
    "bigram_dim",
    "lexicon_bits",
    "lexicon_dim",
    "word_vocab_size",
    "word_dim",
    "gazetteer_bits",
    "gazetteer_dim",
)


def feature_sizes(featurizer: Featurizer | None) -> dict[str, int]:
    """:class:`FeatureInputs` sizes of a featurizer (all 0 without one)."""
    if featurizer is None:
        return {k: 0 for k in FEATURE_SIZE_KEYS}
    spec = featurizer.spec
    return {
        "bigram_vocab_size": featurizer.bigram_vocab_size,
        "bigram_dim": spec["bigram_dim"] if featurizer.bigram_vocab_size else 0,
        "lexicon_bits": featurizer.lexicon_bits,
        "lexicon_dim": spec["lexicon_dim"] if featurizer.lexicon_bits else 0,
        "word_vocab_size": featurizer.word_vocab_size,
        "word_dim": spec["lexicon_word_dim"] if featurizer.word_vocab_size else 0,
        "gazetteer_bits": featurizer.gazetteer_bits,
        "gazetteer_dim": spec["gazetteer_dim"] if featurizer.gazetteer_bits else 0,
    }


def _no_features(kind: str, features: dict) -> None:
    if features:
        raise ValueError(f"{kind} emitter without feature inputs got {sorted(features)}")


class TransformerEmitter(Emitter):
    """A Hugging Face ``*ForTokenClassification`` model used as emission model.

    With ``feature_inputs``, the projected feature embeddings are added to the word
    embeddings (``inputs_embeds``); they are saved next to the transformers files.
    """

    kind: ClassVar[str] = "transformers"

    def __init__(self, model: nn.Module, feature_inputs: FeatureInputs | None = None) -> None:
        super().__init__()
        self.model = model
        self.feature_inputs = feature_inputs
        self.feature_proj: nn.Linear | None = None
        if feature_inputs is not None:
            hidden = model.get_input_embeddings().embedding_dim
            self.feature_proj = nn.Linear(feature_inputs.output_dim, hidden)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> torch.Tensor:
        if self.feature_inputs is None:
            _no_features(self.kind, features)
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        assert self.feature_proj is not None
        embeds = self.model.get_input_embeddings()(input_ids)
        embeds = embeds + self.feature_proj(self.feature_inputs(**features)).to(embeds.dtype)
        return self.model(inputs_embeds=embeds, attention_mask=attention_mask).logits

    def head_parameters(self) -> list[nn.Parameter]:
        head = getattr(self.model, "classifier", None)
        if not isinstance(head, nn.Module):
            head = self.model.get_output_embeddings()
        if head is None:
            raise ValueError(f"{type(self.model).__name__}: cannot find the classifier layer")
        return list(head.parameters())

    def save(self, out_dir: Path) -> None:
        from safetensors.torch import save_file

        self.model.save_pretrained(str(out_dir))
        config, weights = out_dir / EMITTER_FEATURES_CONFIG, out_dir / EMITTER_FEATURES_FILE
        if self.feature_inputs is None:
            config.unlink(missing_ok=True)
            weights.unlink(missing_ok=True)
            return
        assert self.feature_proj is not None
        state = {f"feature_proj.{k}": v for k, v in self.feature_proj.state_dict().items()}
        for key, value in self.feature_inputs.state_dict().items():
            state[f"feature_inputs.{key}"] = value
        save_file(_contiguous(state), str(weights))
        config.write_text(json.dumps(self.feature_inputs.sizes, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, model_dir: Path) -> TransformerEmitter:
        from safetensors.torch import load_file
        from transformers import AutoModelForTokenClassification

        model = AutoModelForTokenClassification.from_pretrained(str(model_dir))
        config = model_dir / EMITTER_FEATURES_CONFIG
        if not config.exists():
            return cls(model)
        emitter = cls(model, FeatureInputs(**json.loads(config.read_text(encoding="utf-8"))))
        state = load_file(str(model_dir / EMITTER_FEATURES_FILE))
        missing, unexpected = emitter.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("model.") for k in missing):
            raise ValueError(f"{model_dir}: feature weights do not match ({missing}, {unexpected})")
        return emitter


class BiLSTMEmitter(Emitter):
    """Token (character) embeddings [+ feature embeddings] -> BiLSTM -> linear classifier.

    ``config``: ``vocab_size``, ``pad_id``, ``num_labels``, ``embedding_dim``, ``hidden``
    (per direction), ``layers``, ``dropout``, ``embedding_dropout``, ``token_dropout``
    (with ``unk_id`` and the ``special_ids`` it never drops) and the
    :class:`FeatureInputs` sizes (:data:`FEATURE_SIZE_KEYS`; zeros without features). The
    LSTM is bidirectional per layer (one forward and one backward ``nn.LSTM``); the
    attention mask must be right-padded, and padding never reaches the state of a real
    position in either direction.
    """

    kind: ClassVar[str] = "bilstm"
    CONFIG_KEYS: ClassVar[tuple[str, ...]] = (
        "vocab_size",
        "pad_id",
        "num_labels",
        "embedding_dim",
        "hidden",
        "layers",
        "dropout",
        "embedding_dropout",
        "token_dropout",
        "unk_id",
        "special_ids",
        *FEATURE_SIZE_KEYS,
    )
    OPTIONAL: ClassVar[dict[str, Any]] = {
        "word_vocab_size": 0,
        "word_dim": 0,
        "gazetteer_bits": 0,
        "gazetteer_dim": 0,
        "token_dropout": 0.0,
        "unk_id": 1,
        "special_ids": [],
    }

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        config = {**self.OPTIONAL, **config}
        missing = [key for key in self.CONFIG_KEYS if key not in config]
        if missing:
            raise ValueError(f"bilstm config lacks {missing}")
        self.config = {key: config[key] for key in self.CONFIG_KEYS}
        cfg = self.config
        self.embeddings = nn.Embedding(cfg["vocab_size"], cfg["embedding_dim"], cfg["pad_id"])
        inputs = FeatureInputs(**{key: cfg[key] for key in FEATURE_SIZE_KEYS})
        self.feature_inputs = inputs if inputs.names else None
        in_dim = cfg["embedding_dim"] + (inputs.output_dim if inputs.names else 0)
        self.embedding_dropout = nn.Dropout(float(cfg["embedding_dropout"]))
        hidden, layers = int(cfg["hidden"]), int(cfg["layers"])
        sizes = [in_dim] + [2 * hidden] * (layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)
        self.backward_lstms = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)
        self.dropout = nn.Dropout(float(cfg["dropout"]))
        self.classifier = nn.Linear(2 * hidden, cfg["num_labels"])
        self.register_buffer(
            "special_ids",
            torch.tensor(list(cfg["special_ids"]), dtype=torch.long),
            persistent=False,
        )

    def _drop_tokens(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, features: dict
    ) -> tuple[torch.Tensor, dict]:
        """Training-time token dropout: characters (and their bigrams) -> unknown."""
        rate = float(self.config["token_dropout"])
        if not self.training or rate <= 0:
            return input_ids, features
        drop = torch.rand(input_ids.shape, device=input_ids.device) < rate
        drop &= attention_mask.bool() & ~torch.isin(input_ids, self.special_ids)
        input_ids = input_ids.masked_fill(drop, int(self.config["unk_id"]))
        if "bigram_ids" in features:
            from nerflow.features import UNK_ID

            bigrams = features["bigram_ids"].masked_fill(drop[..., None], UNK_ID)
            features = {**features, "bigram_ids": bigrams}
        return input_ids, features

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> torch.Tensor:
        input_ids, features = self._drop_tokens(input_ids, attention_mask, features)
        x = self.embeddings(input_ids)
        if self.feature_inputs is not None:
            x = torch.cat([x, self.feature_inputs(**features).to(x.dtype)], dim=-1)
        else:
            _no_features(self.kind, features)
        x = self.embedding_dropout(x)
        reverse = _reverse_index(attention_mask.sum(dim=1), input_ids.size(1))
        for layer, (forward_lstm, backward_lstm) in enumerate(
            zip(self.forward_lstms, self.backward_lstms, strict=True)
        ):
            if layer > 0:
                x = self.dropout(x)
            ahead, _ = forward_lstm(x)
            behind, _ = backward_lstm(_gather_time(x, reverse))
            x = torch.cat([ahead, _gather_time(behind, reverse)], dim=-1)
        return self.classifier(self.dropout(x))

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.classifier.parameters())

    def save(self, out_dir: Path) -> None:
        from safetensors.torch import save_file

        save_file(_contiguous(self.state_dict()), str(out_dir / BILSTM_WEIGHTS_FILE))
        (out_dir / BILSTM_CONFIG_FILE).write_text(
            json.dumps(self.config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, model_dir: Path) -> BiLSTMEmitter:
        from safetensors.torch import load_file

        config = json.loads((model_dir / BILSTM_CONFIG_FILE).read_text(encoding="utf-8"))
        emitter = cls(config)
        emitter.load_state_dict(load_file(str(model_dir / BILSTM_WEIGHTS_FILE)))
        return emitter


def _reverse_index(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``[batch, width]`` time indices reversing each row's first ``lengths`` positions.

    Padding (right of the length) stays in place, so running an LSTM over the reversed
    rows reads every sequence backwards from its true end (an exact bidirectional LSTM on
    right-padded batches, about twice as fast on CPU as packed sequences).
    """
    steps = torch.arange(width, device=lengths.device)[None, :]
    ends = lengths[:, None].to(steps.dtype)
    return torch.where(steps < ends, ends - 1 - steps, steps)


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return x.gather(1, index[:, :, None].expand(-1, -1, x.size(-1)))


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().cpu().contiguous() for k, v in state.items()}


EMITTERS: dict[str, type[Emitter]] = {
    TransformerEmitter.kind: TransformerEmitter,
    BiLSTMEmitter.kind: BiLSTMEmitter,
}
"""Emitter classes by :attr:`Emitter.kind`, used by :func:`load_model`."""


# --------------------------------------------------------------------------- tagger


def left_align(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices gathering the True positions of each row to the left, and the new mask.

    ``mask`` is ``[batch, seq]`` bool; returns ``index [batch, n]`` and ``mask [batch, n]``
    where ``n`` is the largest row count. Order within a row is preserved.
    """
    lengths = mask.sum(dim=1)
    width = int(lengths.max()) if mask.numel() else 0
    index = torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)[:, :width]
    new_mask = torch.arange(width, device=mask.device)[None, :] < lengths[:, None]
    return index, new_mask


class TaggerModel(nn.Module):
    """Emission model + softmax or CRF head over a fixed label list.

    ``forward(input_ids, attention_mask, labels=None, **features) -> (loss or None,
    logits)``; labels use ``-100`` for positions without a label; ``features`` are the
    per-token feature tensors of :attr:`featurizer` (none without features). ``decode``
    returns, per sequence, the label ids of the labelled positions in order.
    ``featurizer`` (a :class:`nerflow.features.Featurizer` or None) is a plain attribute:
    it computes those tensors for new texts and is saved with the model.
    """

    def __init__(
        self,
        emitter: Emitter,
        labels: Sequence[str],
        scheme: str,
        head: str,
        featurizer: Featurizer | None = None,
        span_head_size: int = SPAN_HEAD_SIZE,
    ) -> None:
        super().__init__()
        self.featurizer = featurizer
        self.types = label_types(labels)
        self.span_head_size = int(span_head_size)
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; expected one of {HEADS}")
        if not labels or labels[0] != "O":
            raise ValueError("labels must start with 'O'")
        self.emitter = emitter
        self.labels = list(labels)
        self.scheme = check_scheme(scheme)
        self.head = head
        self.crf: nn.Module | None = None
        if head == "crf":
            from torchcrf import CRF

            self.crf = CRF(len(self.labels), batch_first=True)
        start, trans, end = allowed_transitions(self.labels, scheme)
        self.register_buffer("allowed_start", start, persistent=False)
        self.register_buffer("allowed_trans", trans, persistent=False)
        self.register_buffer("allowed_end", end, persistent=False)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def needs_spans(self) -> bool:
        """Whether training batches must carry the gold token spans (span head)."""
        return self.head == "span"

    @property
    def output_names(self) -> list[str]:
        """Names of the emitter's outputs (:func:`emitter_outputs`)."""
        return emitter_outputs(self.labels, self.head, self.span_head_size)

    # ------------------------------------------------------------------ parameters

    def head_parameters(self) -> list[nn.Parameter]:
        """Classifier (and CRF) parameters: trained with the head learning rate."""
        params = list(self.emitter.head_parameters())
        if self.crf is not None:
            params += list(self.crf.parameters())
        return params

    def named_parameter_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Trainable named parameters split into ``{"encoder": [...], "head": [...]}``."""
        head_ids = {id(p) for p in self.head_parameters()}
        groups: dict[str, list[tuple[str, nn.Parameter]]] = {"encoder": [], "head": []}
        for name, param in self.named_parameters():
            if param.requires_grad:
                groups["head" if id(param) in head_ids else "encoder"].append((name, param))
        return groups

    def param_groups(self, lr: float, head_lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW parameter groups: encoder/head learning rates, no decay on biases, norms
        and other one-dimensional parameters (CRF start/end scores included)."""
        groups = self.named_parameter_groups()
        return [
            *decay_groups(groups["encoder"], lr, weight_decay, "encoder"),
            *decay_groups(groups["head"], head_lr, weight_decay, "head"),
        ]

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        spans: Sequence[torch.Tensor] | None = None,
        **features: torch.Tensor,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Emission logits ``[batch, seq, C]`` and, given ``labels``, the mean loss.

        Span head: span scores ``[batch, n_types, seq, seq]`` instead of logits; training
        needs ``labels`` (only their ``-100`` mask is used) and the gold ``spans`` (one
        ``[k, 3]`` tensor of ``(first token, last token, type index)`` per sequence).
        """
        logits = self.emitter(input_ids, attention_mask, **features)
        if self.head == "span":
            valid = (labels != IGNORE_INDEX) if labels is not None else attention_mask.bool()
            scores = span_scores(logits, len(self.types), self.span_head_size, valid)
            if labels is None:
                return None, scores
            if spans is None:
                raise ValueError("the span head needs the gold spans to compute a loss")
            targets = span_targets(spans, len(self.types), scores.size(-1), scores.device)
            return multilabel_crossentropy(scores, targets), scores
        if labels is None:
            return None, logits
        if self.crf is None:
            loss = nn.functional.cross_entropy(
                logits.float().reshape(-1, self.num_labels),
                labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
            )
            if not bool((labels != IGNORE_INDEX).any()):
                loss = logits.float().sum() * 0.0
            return loss, logits
        return self._crf_loss(logits, labels), logits

    def _crf_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood over sequences with at least one labelled position."""
        label_mask = labels != IGNORE_INDEX
        keep = label_mask.any(dim=1)
        if not bool(keep.any()):
            return logits.float().sum() * 0.0
        index, mask = left_align(label_mask[keep])
        emissions = (
            logits[keep].float().gather(1, index[:, :, None].expand(-1, -1, self.num_labels))
        )
        tags = labels[keep].gather(1, index).masked_fill(~mask, 0)
        with torch.autocast(device_type=logits.device.type, enabled=False):
            params = self._constrained_crf_params(TRAIN_PENALTY)
            llh = functional_call(self.crf, params, (emissions, tags, mask), {"reduction": "none"})
        return -llh.mean()

    def _constrained_crf_params(self, penalty: float) -> dict[str, torch.Tensor]:
        """CRF scores with ``penalty`` on forbidden starts, transitions and ends."""
        assert self.crf is not None
        zero = torch.zeros((), device=self.crf.transitions.device)
        return {
            "start_transitions": self.crf.start_transitions.float()
            + torch.where(self.allowed_start, zero, penalty),
            "transitions": self.crf.transitions.float()
            + torch.where(self.allowed_trans, zero, penalty),
            "end_transitions": self.crf.end_transitions.float()
            + torch.where(self.allowed_end, zero, penalty),
        }

    # ------------------------------------------------------------------ decode

    @torch.no_grad()
    def decode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        label_mask: torch.Tensor,
        **features: torch.Tensor,
    ) -> list[list[int]]:
        """Label ids of the labelled positions (``label_mask`` True), per sequence, in order.

        Softmax: per-position argmax. CRF: constrained Viterbi over the labelled positions
        only, so the result is always a valid sequence of the scheme.
        """
        if self.head == "span":
            raise ValueError("a span head predicts spans: use decode_spans")
        _, logits = self.forward(input_ids, attention_mask, **features)
        label_mask = label_mask.to(device=logits.device, dtype=torch.bool)
        lengths = label_mask.sum(dim=1).tolist()
        if logits.size(0) == 0 or max(lengths, default=0) == 0:
            return [[] for _ in lengths]
        index, mask = left_align(label_mask)
        emissions = logits.float().gather(1, index[:, :, None].expand(-1, -1, self.num_labels))
        if self.crf is None:
            best = emissions.argmax(dim=-1).cpu()
        else:
            best = self._viterbi(emissions, mask)
        return [row[:n] for row, n in zip(best.tolist(), lengths, strict=True)]

    @torch.no_grad()
    def decode_spans(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        label_mask: torch.Tensor,
        **features: torch.Tensor,
    ) -> list[list[tuple[int, int, str]]]:
        """Span head: per sequence, ``(first token, last token, type)`` of every span with a
        positive score whose both ends are labelled (``label_mask``); may overlap."""
        if self.head != "span":
            raise ValueError(f"decode_spans needs the span head, this model has {self.head!r}")
        logits = self.emitter(input_ids, attention_mask, **features)
        valid = label_mask.to(device=logits.device, dtype=torch.bool)
        scores = span_scores(logits, len(self.types), self.span_head_size, valid)
        return [
            [(start, end, self.types[t]) for start, end, t in row] for row in decode_spans(scores)
        ]

    def _viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Best constrained paths ``[batch, n]`` (rows padded past their length)."""
        assert self.crf is not None
        params = self._constrained_crf_params(float("-inf"))
        start, trans, end = (
            params["start_transitions"],
            params["transitions"],
            params["end_transitions"],
        )
        batch, width, _ = emissions.shape
        lengths = mask.sum(dim=1)
        score = start[None, :] + emissions[:, 0]
        history = []
        for i in range(1, width):
            candidates = score[:, :, None] + trans[None, :, :] + emissions[:, i, None, :]
            best_score, best_prev = candidates.max(dim=1)
            score = torch.where(mask[:, i, None], best_score, score)
            history.append(best_prev)
        score = score + end[None, :]
        current = score.argmax(dim=1)
        path = torch.zeros(batch, width, dtype=torch.long, device=emissions.device)
        for i in range(width - 1, 0, -1):
            inside = i < lengths
            path[:, i] = torch.where(inside, current, path[:, i])
            previous = history[i - 1].gather(1, current[:, None]).squeeze(1)
            current = torch.where(inside, previous, current)
        path[:, 0] = current
        return path.cpu()


# --------------------------------------------------------------------------- build / io


def emitter_outputs(labels: Sequence[str], head: str, span_head_size: int) -> list[str]:
    """What the emitter's output layer predicts: the tag ``labels`` (softmax/CRF), or the
    ``q``/``k`` components of every entity type (span head), e.g. ``name:q0``."""
    if head != "span":
        return list(labels)
    return [
        f"{entity_type}:{part}{d}"
        for entity_type in label_types(labels)
        for part in ("q", "k")
        for d in range(span_head_size)
    ]


PIPELINE_PREFIXES = {"B": "B", "I": "I", "S": "B", "E": "I"}
"""Tag prefix -> the prefix the transformers token-classification pipeline groups by."""


def pipeline_label(tag: str) -> str:
    """The name of ``tag`` in an exported config's ``id2label``, for transformers' pipeline.

    ``transformers.pipeline("token-classification", aggregation_strategy="simple")`` knows
    only the ``B-``/``I-`` prefixes (anything else is read as a continuation of a type
    named by the whole string). So a single ``S-X`` is exported as ``B-X`` and an
    ending ``E-X`` as ``I-X``; ``B-X``, ``I-X`` and ``O`` are unchanged. On a valid
    BIOS/BIOES sequence the pipeline's BIO grouping then yields exactly the spans of
    :func:`nerflow.tagging.tags_to_spans`. Several ids may share a name. The type is
    kept verbatim (dashes, dots, digits, non-ASCII). Raises ``ValueError`` on a string
    that is not a tag.
    """
    prefix, entity_type = parse_tag(tag)
    if entity_type is None:
        return "O"
    return f"{PIPELINE_PREFIXES[prefix]}-{entity_type}"


def label_maps(outputs: Sequence[str], head: str) -> tuple[dict[int, str], dict[str, int]]:
    """``(id2label, label2id)`` of an emitter's ``outputs`` for a transformers config.

    Softmax/CRF heads: ``id2label`` holds the :func:`pipeline_label` names, ``label2id``
    the real tag names -> ids. Span head: its outputs (``name:q0``, ...) are not tags and
    are written unchanged in both maps.
    """
    names = list(outputs) if head == "span" else [pipeline_label(tag) for tag in outputs]
    return dict(enumerate(names)), {output: i for i, output in enumerate(outputs)}


def feature_dir_of(exp_cfg: dict, tokenizer) -> str | None:
    """Folder holding an experiment's feature assets: ``exp_cfg["feature_dir"]`` or, by
    default, the folder the tokenizer was loaded from (``tokenizer.name_or_path``)."""
    explicit = exp_cfg.get("feature_dir")
    if explicit:
        return str(explicit)
    name = getattr(tokenizer, "name_or_path", None)
    return str(name) if name and Path(str(name)).is_dir() else None


def experiment_featurizer(exp_cfg: dict, tokenizer) -> Featurizer | None:
    """The featurizer of an experiment's ``features`` block (None when it enables none)."""
    return load_featurizer(exp_cfg.get("features"), feature_dir_of(exp_cfg, tokenizer))


def build_emitter(
    exp_cfg: dict, labels: Sequence[str], tokenizer, featurizer: Featurizer | None = None
) -> Emitter:
    """The emission model of an experiment: ``encoder: bilstm`` or the transformer family
    (``scratch``, hub id or folder); ``featurizer`` adds its feature inputs. ``labels``
    names the outputs (:func:`emitter_outputs`); a transformers config gets them through
    :func:`label_maps` (pipeline names for the tag heads, ``exp_cfg["head"]``).

    Other emitter families plug in here: build their :class:`Emitter` from ``exp_cfg``
    and register the class in :data:`EMITTERS`.
    """
    from transformers import AutoConfig, AutoModelForTokenClassification, BertConfig

    id2label, label2id = label_maps(labels, str(exp_cfg.get("head", "softmax")))
    encoder = str(exp_cfg["encoder"])
    max_len = int(exp_cfg["max_len"])
    if encoder == BiLSTMEmitter.kind:
        return BiLSTMEmitter(bilstm_config(exp_cfg, len(labels), tokenizer, featurizer))
    if encoder == "scratch":
        scratch = exp_cfg.get("scratch") or {}
        dropout = float(scratch.get("dropout", 0.1))
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=int(scratch.get("hidden", 256)),
            num_hidden_layers=int(scratch.get("layers", 4)),
            num_attention_heads=int(scratch.get("heads", 4)),
            intermediate_size=int(scratch.get("intermediate", 1024)),
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            max_position_embeddings=max(512, max_len),
            pad_token_id=tokenizer.pad_token_id or 0,
            id2label=id2label,
            label2id=label2id,
        )
        model = AutoModelForTokenClassification.from_config(config)
    else:
        check_encoder_source(encoder, model=True)
        try:
            source = AutoConfig.from_pretrained(encoder)
        except (OSError, ValueError) as error:
            raise encoder_error(encoder, "model config", error) from error
        _check_encoder_labels(encoder, source, list(id2label.values()), labels)
        try:
            model = AutoModelForTokenClassification.from_pretrained(
                encoder, id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True
            )
        except OSError as error:
            raise encoder_error(encoder, "model", error) from error
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and max_len > positions:
        raise ValueError(f"max_len {max_len} exceeds the encoder's {positions} positions")
    return TransformerEmitter(model, FeatureInputs.for_featurizer(featurizer))


def _check_encoder_labels(
    encoder: str, config: Any, exported: list[str], outputs: Sequence[str]
) -> None:
    """Refuse a token-classification checkpoint trained on other labels as ``encoder``:
    with ``ignore_mismatched_sizes`` its head would be kept under other names (same count)
    or silently dropped. Encoders without such a head (MLM, base models) and heads that
    never got label names (transformers' ``LABEL_0``, ``LABEL_1``...) pass."""
    architectures = getattr(config, "architectures", None) or []
    if not any(str(name).endswith("ForTokenClassification") for name in architectures):
        return
    saved = [str(config.id2label.get(i)) for i in range(len(config.id2label))]
    if saved in (exported, list(outputs)) or saved == [f"LABEL_{i}" for i in range(len(saved))]:
        return
    have, want = _output_types(saved), _output_types(exported)
    if have != want:
        difference = (
            f"types it lacks: {_preview(sorted(want - have))}; "
            f"types it has that the experiment does not: {_preview(sorted(have - want))}"
        )
    else:
        difference = "same types, other tags or head (tagging scheme or head differs)"
    raise ValueError(
        f"{encoder}: a token-classification model trained on other labels ({len(saved)} "
        f"outputs, the experiment needs {len(exported)}; {difference}). To fine-tune its "
        f"encoder on these labels, save it without the head (AutoModel.from_pretrained"
        f"(folder).save_pretrained(new_folder)) and set encoder: new_folder"
    )


def _output_types(names: Sequence[str]) -> set[str]:
    """Entity types behind output names: tags (``B-x``) or span parts (``x:q0``)."""
    types = set()
    for name in names:
        if ":" in name and name.rsplit(":", 1)[1][:1] in ("q", "k"):
            types.add(name.rsplit(":", 1)[0])
        elif "-" in name:
            types.add(name.split("-", 1)[1])
    return types


def bilstm_config(
    exp_cfg: dict, num_labels: int, tokenizer, featurizer: Featurizer | None
) -> dict[str, Any]:
    """The :class:`BiLSTMEmitter` config of an experiment (``bilstm`` block + features)."""
    given = dict(exp_cfg.get("bilstm") or {})
    unknown = sorted(set(given) - set(BILSTM_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown bilstm settings {unknown}; known: {sorted(BILSTM_DEFAULTS)}")
    sizes = {**BILSTM_DEFAULTS, **given}
    if sizes["embedding_dropout"] is None:
        sizes["embedding_dropout"] = sizes["dropout"]
    return {
        "vocab_size": len(tokenizer),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "num_labels": int(num_labels),
        "embedding_dim": int(sizes["embedding_dim"]),
        "hidden": int(sizes["hidden"]),
        "layers": int(sizes["layers"]),
        "dropout": float(sizes["dropout"]),
        "embedding_dropout": float(sizes["embedding_dropout"]),
        "token_dropout": float(sizes["token_dropout"]),
        "unk_id": int(tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 1),
        "special_ids": sorted(int(i) for i in tokenizer.all_special_ids),
        **feature_sizes(featurizer),
    }


def build_model(
    exp_cfg: dict, labels: Sequence[str], tokenizer, featurizer: Featurizer | None = None
) -> TaggerModel:
    """A fresh :class:`TaggerModel` for an experiment config (random init for ``scratch``
    and ``bilstm``).

    With a ``features`` block, the featurizer is loaded from ``exp_cfg["feature_dir"]``
    (default: the tokenizer's folder, see :func:`feature_dir_of`) unless given.
    """
    if featurizer is None:
        featurizer = experiment_featurizer(exp_cfg, tokenizer)
    head = exp_cfg["head"]
    span_head_size = int(exp_cfg.get("span_head_size", SPAN_HEAD_SIZE))
    outputs = emitter_outputs(labels, head, span_head_size)
    emitter = build_emitter(exp_cfg, outputs, tokenizer, featurizer)
    return TaggerModel(emitter, labels, exp_cfg["scheme"], head, featurizer, span_head_size)


def save_model(
    model: TaggerModel, out_dir: str | Path, tokenizer, extra_meta: dict | None = None
) -> Path:
    """Save the emitter, tokenizer files, CRF, feature assets and head meta.

    A transformers emitter's config gets the maps of :func:`label_maps` (``id2label`` with
    pipeline names for softmax/CRF heads); the real labels are ``meta["labels"]``.

    ``extra_meta`` must hold ``tokenization`` and ``max_len`` (what prediction needs) and
    may hold anything JSON-serialisable (``stride``, training summary, ...).

    The folder is written beside ``out_dir`` under a temporary name and renamed into place
    (:func:`nerflow.atomic.atomic_model_folder`): a full disk or an unwritable folder raises
    :class:`~nerflow.atomic.WriteError` naming ``out_dir`` and leaves no half-written
    folder there (a previous model folder stays as it was).
    """
    meta = dict(extra_meta or {})
    missing = [key for key in ("tokenization", "max_len") if key not in meta]
    if missing:
        raise ValueError(f"extra_meta lacks {missing}")
    out = Path(out_dir)
    with atomic_model_folder(out) as folder:
        _write_model_folder(model, folder, tokenizer, meta)
    return out


def _write_model_folder(model: TaggerModel, out: Path, tokenizer, meta: dict) -> None:
    """The files of :func:`save_model`, written into the (new, empty) folder ``out``."""
    from safetensors.torch import save_file

    config = _emitter_config(model.emitter)
    if config is not None:  # also renames a model loaded from a folder of the old naming
        config.id2label, config.label2id = label_maps(model.output_names, model.head)
    model.emitter.save(out)
    tokenizer.save_pretrained(str(out))
    if model.crf is not None:
        save_file(_contiguous(model.crf.state_dict()), str(out / CRF_FILE))
    featurizer = model.featurizer
    if featurizer is not None:
        featurizer.save(out)
    meta.update(
        {
            "emitter": model.emitter.kind,
            "head": model.head,
            "scheme": model.scheme,
            "labels": model.labels,
            "span_head_size": model.span_head_size if model.head == "span" else None,
            "features": featurizer.describe() if featurizer is not None else None,
        }
    )
    (out / HEAD_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def load_model(
    model_dir: str | Path, device: str | torch.device | None = "auto"
) -> tuple[TaggerModel, Any, dict]:
    """Load a folder written by :func:`save_model`: ``(model in eval mode, tokenizer, meta)``.

    Feature assets saved with the model are loaded into ``model.featurizer``. The labels
    come from ``nerflow_head.json``; a transformers config's ``id2label`` must hold their
    pipeline names (:func:`label_maps`) or, in folders saved before that naming, the raw
    outputs, else ``ValueError``.
    """
    from safetensors.torch import load_file

    from nerflow.vocab import load_tokenizer

    directory = Path(model_dir)
    if not (directory / HEAD_FILE).is_file():
        state = "holds no" if directory.is_dir() else "does not exist, so no"
        raise FileNotFoundError(
            f"{directory}: not a nerflow model folder ({state} {HEAD_FILE}); give a folder "
            f"written by training, such as results/RUN/model"
        )
    meta = json.loads((directory / HEAD_FILE).read_text(encoding="utf-8"))
    kind = meta.get("emitter", TransformerEmitter.kind)
    if kind not in EMITTERS:
        raise ValueError(f"{directory}: unknown emitter {kind!r}; known: {sorted(EMITTERS)}")
    missing = _missing_model_files(directory, kind, meta)
    if missing:
        present = sorted(path.name for path in directory.iterdir())
        raise FileNotFoundError(
            f"{directory}: incomplete model folder, it lacks {', '.join(missing)} (it holds: "
            f"{', '.join(present)}); copy the whole folder written by training, or retrain"
        )
    featurizer = None
    if meta.get("features"):
        featurizer = Featurizer.load(directory)
        if featurizer.fingerprint() != meta["features"]["fingerprint"]:
            raise ValueError(f"{directory}: feature assets differ from those the model saved")
    try:
        emitter = EMITTERS[kind].load(directory)
    except RuntimeError as error:  # load_state_dict: size mismatch, missing keys
        raise ValueError(
            f"{directory}: the {kind} weights do not fit its config ({_first_line(error)})"
        ) from error
    model = TaggerModel(
        emitter,
        meta["labels"],
        meta["scheme"],
        meta["head"],
        featurizer,
        int(meta.get("span_head_size") or SPAN_HEAD_SIZE),
    )
    if model.crf is not None:
        try:
            model.crf.load_state_dict(load_file(str(directory / CRF_FILE)))
        except RuntimeError as error:
            raise ValueError(
                f"{directory}: {CRF_FILE} does not fit the {len(model.labels)} labels of "
                f"{HEAD_FILE} (trained on another label set? {_first_line(error)})"
            ) from error
    config = _emitter_config(emitter)
    if config is not None:
        saved = [config.id2label.get(i) for i in range(len(config.id2label))]
        exported = list(label_maps(model.output_names, model.head)[0].values())
        if saved not in (exported, model.output_names):  # current naming, or the older raw one
            raise ValueError(
                f"{directory}: config id2label {_preview(saved)} matches neither the pipeline "
                f"names {_preview(exported)} nor the raw outputs "
                f"{_preview(model.output_names)} of the head in {HEAD_FILE}"
            )
    model.to(resolve_device(device))
    model.eval()
    return model, load_tokenizer(directory), meta


def _missing_model_files(directory: Path, kind: str, meta: dict) -> list[str]:
    """Files that a model folder of emitter ``kind`` with head ``meta`` needs but lacks."""
    from nerflow.vocab import TOKENIZER_FILES, WEIGHT_FILES

    present = {path.name for path in directory.iterdir()}
    needed = [("tokenizer files (tokenizer.json or vocab.txt)", TOKENIZER_FILES)]
    if kind == TransformerEmitter.kind:
        needed.append(("config.json", ("config.json",)))
        needed.append(("weights (model.safetensors or pytorch_model.bin)", WEIGHT_FILES))
    elif kind == BiLSTMEmitter.kind:
        needed += [(name, (name,)) for name in (BILSTM_CONFIG_FILE, BILSTM_WEIGHTS_FILE)]
    if meta.get("head") == "crf":
        needed.append((CRF_FILE, (CRF_FILE,)))
    return [label for label, names in needed if not present & set(names)]


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _preview(names: Sequence[Any], n: int = 8) -> str:
    """``names`` for an error message, cut after ``n`` entries."""
    shown = ", ".join(repr(name) for name in names[:n])
    return f"[{shown}{', ...' if len(names) > n else ''}] ({len(names)})"


def _emitter_config(emitter: Emitter) -> Any:
    """The transformers config of an emitter (None for emitters that are no AutoModel)."""
    return getattr(getattr(emitter, "model", None), "config", None)


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters."""
    return sum(p.numel() for p in model.parameters())
