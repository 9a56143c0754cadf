"""Tagging models: an emission model (any :class:`Emitter`) plus a softmax or CRF head.

The emission model of the transformer family is a plain
``AutoModelForTokenClassification`` (BERT-like), so a saved model folder loads with
``AutoModelForTokenClassification.from_pretrained(folder)``; the CRF parameters live
next to it in ``crf.safetensors`` and the head description in ``nerflow_head.json``.

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

from nerflow.tagging import check_scheme, is_valid_sequence, label_list, parse_tag

HEADS = ("softmax", "crf")
HEAD_FILE = "nerflow_head.json"
CRF_FILE = "crf.safetensors"
TRAIN_PENALTY = -1.0e4
"""Score added to forbidden CRF transitions in the training likelihood (finite: no NaNs)."""


# --------------------------------------------------------------------------- devices


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA when available, else CPU; otherwise ``torch.device(spec)``."""
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    return device


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
    themselves in :data:`EMITTERS` so :func:`load_model` can rebuild them.
    """

    kind: ClassVar[str] = ""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
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


class TransformerEmitter(Emitter):
    """A Hugging Face ``*ForTokenClassification`` model used as emission model."""

    kind: ClassVar[str] = "transformers"

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    def head_parameters(self) -> list[nn.Parameter]:
        head = getattr(self.model, "classifier", None)
        if not isinstance(head, nn.Module):
            head = self.model.get_output_embeddings()
        if head is None:
            raise ValueError(f"{type(self.model).__name__}: cannot find the classifier layer")
        return list(head.parameters())

    def save(self, out_dir: Path) -> None:
        self.model.save_pretrained(str(out_dir))

    @classmethod
    def load(cls, model_dir: Path) -> TransformerEmitter:
        from transformers import AutoModelForTokenClassification

        return cls(AutoModelForTokenClassification.from_pretrained(str(model_dir)))


EMITTERS: dict[str, type[Emitter]] = {TransformerEmitter.kind: TransformerEmitter}
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

    ``forward(input_ids, attention_mask, labels=None) -> (loss or None, logits)``; labels
    use ``-100`` for positions without a label. ``decode`` returns, per sequence, the label
    ids of the labelled positions in order.
    """

    def __init__(self, emitter: Emitter, labels: Sequence[str], scheme: str, head: str) -> None:
        super().__init__()
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
        out: list[dict[str, Any]] = []
        for group, group_lr in (("encoder", lr), ("head", head_lr)):
            named = self.named_parameter_groups()[group]
            decay = [p for n, p in named if not _no_decay(n, p)]
            plain = [p for n, p in named if _no_decay(n, p)]
            for params, wd, suffix in ((decay, weight_decay, ""), (plain, 0.0, "_no_decay")):
                if params:
                    out.append(
                        {
                            "params": params,
                            "lr": group_lr,
                            "weight_decay": wd,
                            "name": group + suffix,
                        }
                    )
        return out

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Emission logits ``[batch, seq, C]`` and, given ``labels``, the mean loss."""
        logits = self.emitter(input_ids, attention_mask)
        if labels is None:
            return None, logits
        if self.crf is None:
            loss = nn.functional.cross_entropy(
                logits.float().reshape(-1, self.num_labels), labels.reshape(-1), ignore_index=-100
            )
            if not bool((labels != -100).any()):
                loss = logits.float().sum() * 0.0
            return loss, logits
        return self._crf_loss(logits, labels), logits

    def _crf_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood over sequences with at least one labelled position."""
        label_mask = labels != -100
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
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, label_mask: torch.Tensor
    ) -> list[list[int]]:
        """Label ids of the labelled positions (``label_mask`` True), per sequence, in order.

        Softmax: per-position argmax. CRF: constrained Viterbi over the labelled positions
        only, so the result is always a valid sequence of the scheme.
        """
        _, logits = self.forward(input_ids, attention_mask)
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


def _no_decay(name: str, param: nn.Parameter) -> bool:
    lowered = name.lower()
    return param.ndim < 2 or "bias" in lowered or "layernorm" in lowered or "layer_norm" in lowered


# --------------------------------------------------------------------------- build / io


def label_maps(labels: Sequence[str]) -> tuple[dict[int, str], dict[str, int]]:
    """``(id2label, label2id)`` for a label list."""
    return dict(enumerate(labels)), {label: i for i, label in enumerate(labels)}


def build_emitter(exp_cfg: dict, labels: Sequence[str], tokenizer) -> Emitter:
    """The emission model of an experiment (transformer family: scratch, hub id or folder).

    Other emitter families (e.g. a BiLSTM over character/bigram embeddings) plug in here:
    build their :class:`Emitter` from ``exp_cfg`` and register the class in :data:`EMITTERS`.
    """
    from transformers import AutoModelForTokenClassification, BertConfig

    id2label, label2id = label_maps(labels)
    encoder = str(exp_cfg["encoder"])
    max_len = int(exp_cfg["max_len"])
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
        model = AutoModelForTokenClassification.from_pretrained(
            encoder, id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True
        )
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and max_len > positions:
        raise ValueError(f"max_len {max_len} exceeds the encoder's {positions} positions")
    return TransformerEmitter(model)


def build_model(exp_cfg: dict, labels: Sequence[str], tokenizer) -> TaggerModel:
    """A fresh :class:`TaggerModel` for an experiment config (random init for ``scratch``)."""
    emitter = build_emitter(exp_cfg, labels, tokenizer)
    return TaggerModel(emitter, labels, exp_cfg["scheme"], exp_cfg["head"])


def save_model(
    model: TaggerModel, out_dir: str | Path, tokenizer, extra_meta: dict | None = None
) -> Path:
    """Save the emitter (``save_pretrained`` folder), tokenizer files, CRF and head meta.

    ``extra_meta`` must hold ``tokenization`` and ``max_len`` (what prediction needs) and
    may hold anything JSON-serialisable (``stride``, training summary, ...).
    """
    from safetensors.torch import save_file

    meta = dict(extra_meta or {})
    missing = [key for key in ("tokenization", "max_len") if key not in meta]
    if missing:
        raise ValueError(f"extra_meta lacks {missing}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.emitter.save(out)
    tokenizer.save_pretrained(str(out))
    crf_path = out / CRF_FILE
    if model.crf is not None:
        state = {
            k: v.detach().float().cpu().contiguous() for k, v in model.crf.state_dict().items()
        }
        save_file(state, str(crf_path))
    elif crf_path.exists():
        crf_path.unlink()
    meta.update(
        {
            "emitter": model.emitter.kind,
            "head": model.head,
            "scheme": model.scheme,
            "labels": model.labels,
        }
    )
    (out / HEAD_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return out


def load_model(
    model_dir: str | Path, device: str | torch.device | None = "auto"
) -> tuple[TaggerModel, Any, dict]:
    """Load a folder written by :func:`save_model`: ``(model in eval mode, tokenizer, meta)``."""
    from safetensors.torch import load_file

    from nerflow.vocab import load_tokenizer

    directory = Path(model_dir)
    meta = json.loads((directory / HEAD_FILE).read_text(encoding="utf-8"))
    kind = meta.get("emitter", TransformerEmitter.kind)
    if kind not in EMITTERS:
        raise ValueError(f"{directory}: unknown emitter {kind!r}; known: {sorted(EMITTERS)}")
    emitter = EMITTERS[kind].load(directory)
    model = TaggerModel(emitter, meta["labels"], meta["scheme"], meta["head"])
    if model.crf is not None:
        model.crf.load_state_dict(load_file(str(directory / CRF_FILE)))
    config = getattr(getattr(emitter, "model", None), "config", None)
    if config is not None:
        saved = [config.id2label[i] for i in range(len(config.id2label))]
        if saved != model.labels:
            raise ValueError(f"{directory}: config id2label {saved} != head labels {model.labels}")
    model.to(resolve_device(device))
    model.eval()
    return model, load_tokenizer(directory), meta


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters."""
    return sum(p.numel() for p in model.parameters())
