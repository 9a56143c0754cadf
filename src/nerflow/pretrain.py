"""In-domain masked-LM pretraining of a from-scratch BERT encoder.

:func:`pretrain_mlm` trains a ``BertForMaskedLM`` on unlabelled texts (the texts of train
and test; never dev) with dynamic BERT masking, optionally whole-word masking over a
jieba segmentation, and saves it with ``save_pretrained`` next to the character
tokenizer. The folder is a regular encoder for fine-tuning:
``AutoModelForTokenClassification.from_pretrained(folder)`` loads its embeddings and
encoder layers (the MLM head is dropped, a fresh classifier is added).

Tokenisation is the one fine-tuning uses (:func:`nerflow.alignment.windows`, ``"char"``
mode by default), so every character the tagger later sees was seen here the same way.

Masking (:func:`mask_tokens`): each maskable unit -- a word under whole-word masking, a
token otherwise -- is selected with probability ``mlm_probability``, so about that
fraction of the maskable tokens is selected; special tokens (``[CLS]``, ``[SEP]``,
``[PAD]``, ``[UNK]``, ...) never are. Each selected token becomes ``[MASK]`` (80 %), a
random non-special token (10 %) or stays (10 %), decided per token as in BERT's
reference implementation. Labels are the original ids on selected tokens, ``-100``
elsewhere. The masking draws from a generator of its own, seeded with ``seed``.

Resume (as in :mod:`nerflow.training`): after every held-out evaluation and at the end of
every epoch a checkpoint (weights, optimizer, schedule, the masking generator and the
global random states, the loop's position and counters, the log lines) is written
atomically to ``checkpoint_dir/state.pt``. A run that finds a checkpoint of the same
settings (all but ``max_minutes``/``device``), tokenizer and texts continues from it,
skipping the batches of the current epoch already done (each epoch's batch order depends
only on the seed and the epoch), and on the same device and threads ends with the same
weights as a run never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nerflow.alignment import MODES, windows
from nerflow.atomic import atomic_model_folder, save_torch
from nerflow.batching import make_batches
from nerflow.optim import decay_groups
from nerflow.resume import CHECKPOINT_FILE, cpu_state, load_checkpoint, rng_state, set_rng_state
from nerflow.tensors import IGNORE_INDEX, pad, padding_mask, resolve_device
from nerflow.vocab import load_tokenizer, tokenizer_fingerprint

META_FILE = "nerflow_pretrain.json"
MAX_WORD_LEN = 16
RESUME_INSENSITIVE = ("max_minutes", "device")
"""Settings that may change between an interrupted pretraining and its resumption."""
_LOG = logging.getLogger(__name__)
"""Longest word forward maximum matching looks for in a plain word collection."""

PRETRAIN_DEFAULTS: dict[str, Any] = {
    "layers": 4,
    "hidden": 256,
    "heads": 4,
    "intermediate": 1024,
    "dropout": 0.1,
    "max_len": 64,
    "tokenization": "char",
    "epochs": 10,
    "batch_size": 64,
    "lr": 5e-4,
    "warmup_ratio": 0.06,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
    "mlm_probability": 0.15,
    "whole_word": True,
    "lexicon": "jieba",
    "heldout_fraction": 0.02,
    "eval_every_steps": 0,
    "seed": 42,
    "max_minutes": 0,
    "device": "auto",
}
"""Every key :func:`pretrain_mlm` accepts, with its default.

``lexicon``: ``"jieba"`` (jieba's own dictionary) or the path of a jieba-format
dictionary file (``word [freq [tag]]`` per line); used only when ``whole_word`` is true.
``eval_every_steps``: 0 evaluates on the held-out texts at the end of each epoch only.
``max_minutes``: 0 means no limit; otherwise training stops after that many minutes
(the learning-rate schedule is still the one planned for ``epochs``).
"""


# --------------------------------------------------------------------------- words


def load_lexicon(spec: str | Path = "jieba") -> Any:
    """A jieba tokenizer over jieba's dictionary (``"jieba"``) or a dictionary file."""
    try:
        import jieba
    except ImportError as error:  # pragma: no cover - jieba is the ``lexicon`` extra
        raise ImportError(
            "whole-word masking needs jieba (pip install 'nerflow[lexicon]')"
        ) from error

    tokenizer = jieba.Tokenizer() if str(spec) == "jieba" else jieba.Tokenizer(str(spec))
    tokenizer.initialize()
    return tokenizer


def whole_word_spans(text: str, lexicon: Any) -> list[tuple[int, int]]:
    """Segment ``text`` into words: half-open character spans ``[start, end)`` that tile it.

    ``lexicon`` is either a jieba tokenizer (``jieba.Tokenizer`` or :func:`load_lexicon`:
    maximum-probability segmentation over its dictionary, HMM off, hence deterministic and
    without invented words) or a collection of words (forward maximum matching, words of
    up to :data:`MAX_WORD_LEN` characters). Characters that start no word are words of
    their own, except that a run of ASCII letters and digits is one word (as in jieba).
    """
    if hasattr(lexicon, "tokenize"):
        spans = [(int(start), int(end)) for _, start, end in lexicon.tokenize(text, HMM=False)]
    else:
        spans = _forward_max_match(text, lexicon)
    position = 0
    for start, end in spans:
        if start != position or end <= start:
            raise RuntimeError(f"segmentation does not tile the text: {spans} for {text!r}")
        position = end
    if position != len(text):
        raise RuntimeError(f"segmentation does not cover the text: {spans} for {text!r}")
    return spans


def _forward_max_match(text: str, words: Collection[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        end = i + 1
        for size in range(min(MAX_WORD_LEN, n - i), 1, -1):
            if text[i : i + size] in words:
                end = i + size
                break
        else:
            while end < n and _ascii_alnum(text[i]) and _ascii_alnum(text[end]):
                end += 1
        spans.append((i, end))
        i = end
    return spans


def _ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


# --------------------------------------------------------------------------- masking


def mask_tokens(
    input_ids: torch.Tensor | Sequence[Sequence[int]],
    word_ids_per_token: torch.Tensor | Sequence[Sequence[int | None]],
    tokenizer: Any,
    mlm_probability: float = 0.15,
    whole_word: bool = True,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of a padded batch: ``(masked input_ids, labels)``, both ``[batch, seq]``.

    ``word_ids_per_token[b][i]`` is the word of token ``i`` of row ``b`` (any integers;
    tokens of one row sharing a value form one word), or ``None``/a negative value for
    tokens that must never be masked (special tokens, padding). Ids of the tokenizer's
    special tokens are never masked whatever their word id. With ``whole_word`` every
    token of a selected word is selected; without it each token is its own unit. The
    inputs are not modified. Runs on the inputs' device; ``generator`` must live there.
    """
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    words = _word_tensor(word_ids_per_token, ids.device)
    if ids.shape != words.shape or ids.dim() != 2:
        raise ValueError(f"input_ids {tuple(ids.shape)} and word ids {tuple(words.shape)} differ")
    special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), device=ids.device)
    maskable = (words >= 0) & ~torch.isin(ids, special_ids)
    rows, cols = maskable.nonzero(as_tuple=True)
    unit = words[rows, cols] if whole_word else cols
    keys = rows * (int(unit.max()) + 1 if unit.numel() else 1) + unit
    _, unit_index = torch.unique(keys, return_inverse=True)
    n_units = int(unit_index.max()) + 1 if unit_index.numel() else 0
    chosen_units = _uniform(n_units, ids.device, generator) < mlm_probability
    selected = torch.zeros_like(maskable)
    selected[rows, cols] = chosen_units[unit_index]

    labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
    masked = ids.clone()
    sel_rows, sel_cols = selected.nonzero(as_tuple=True)
    draw = _uniform(sel_rows.numel(), ids.device, generator)
    to_mask = draw < 0.8
    to_random = (draw >= 0.8) & (draw < 0.9)
    masked[sel_rows[to_mask], sel_cols[to_mask]] = tokenizer.mask_token_id
    candidates = _ordinary_ids(tokenizer, ids.device)
    n_random = int(to_random.sum())
    if n_random:
        pick = torch.randint(len(candidates), (n_random,), generator=generator, device=ids.device)
        masked[sel_rows[to_random], sel_cols[to_random]] = candidates[pick]
    return masked, labels


def _word_tensor(word_ids: Any, device: torch.device) -> torch.Tensor:
    if isinstance(word_ids, torch.Tensor):
        return word_ids.to(device=device, dtype=torch.long)
    return torch.tensor(
        [[-1 if w is None else int(w) for w in row] for row in word_ids],
        dtype=torch.long,
        device=device,
    )


def _uniform(n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device)


def _ordinary_ids(tokenizer: Any, device: torch.device) -> torch.Tensor:
    """Ids a random replacement may take: the whole vocabulary minus special tokens."""
    special = set(tokenizer.all_special_ids)
    ids = [i for i in range(len(tokenizer)) if i not in special]
    if not ids:
        raise ValueError("the tokenizer has no non-special tokens")
    return torch.tensor(ids, dtype=torch.long, device=device)


# --------------------------------------------------------------------------- examples


@dataclass
class Example:
    """One training sequence: token ids (specials included) and word id per token (-1:
    never masked)."""

    input_ids: list[int]
    word_ids: list[int]


def encode_texts(
    texts: Sequence[str],
    tokenizer: Any,
    max_len: int,
    mode: str = "char",
    lexicon: Any = None,
) -> list[Example]:
    """Tokenise texts into examples of at most ``max_len`` tokens.

    A longer text gives several consecutive windows (:func:`nerflow.alignment.windows`
    with ``stride=0``: no overlap, except that the last window is moved back to end on
    the last token). Word ids number the
    words of ``whole_word_spans(text, lexicon)`` (or, without a lexicon, the characters);
    a token's word is the word of its first character. Texts without content tokens are
    skipped.
    """
    if mode not in MODES:
        raise ValueError(f"unknown tokenization {mode!r}; expected one of {MODES}")
    examples: list[Example] = []
    for text in texts:
        if lexicon is not None:
            char_word = [0] * len(text)
            for index, (start, end) in enumerate(whole_word_spans(text, lexicon)):
                char_word[start:end] = [index] * (end - start)
        else:
            char_word = list(range(len(text)))
        for tok in windows(text, tokenizer, mode, max_len, stride=0):
            assert tok.special is not None
            word_ids = [
                -1 if special else char_word[start]
                for (start, _), special in zip(tok.offsets, tok.special, strict=True)
            ]
            if any(w >= 0 for w in word_ids):
                examples.append(Example(list(tok.input_ids), word_ids))
    return examples


def pad_examples(
    examples: Sequence[Example], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, word_ids, attention_mask)`` padded to the batch's longest example."""
    rows = [ex.input_ids for ex in examples]
    return pad(rows, pad_id), pad([ex.word_ids for ex in examples], -1), padding_mask(rows)


def split_heldout(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """``(train, heldout)`` indices of ``n`` texts: a seeded ``fraction`` held out (at least
    one text when ``fraction > 0`` and ``n >= 2``)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_held = 0 if fraction <= 0 or n < 2 else min(n - 1, max(1, round(fraction * n)))
    return sorted(order[n_held:]), sorted(order[:n_held])


# --------------------------------------------------------------------------- model


def resolve_config(config: dict | None) -> dict[str, Any]:
    """``PRETRAIN_DEFAULTS`` updated with ``config``; unknown keys are an error."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(PRETRAIN_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown pretraining settings {unknown}")
    cfg = {**PRETRAIN_DEFAULTS, **config}
    if cfg["hidden"] % cfg["heads"]:
        raise ValueError(f"hidden {cfg['hidden']} is not a multiple of heads {cfg['heads']}")
    return cfg


def build_mlm_model(cfg: dict[str, Any], tokenizer: Any):
    """A randomly initialised ``BertForMaskedLM`` sized by ``cfg`` for ``tokenizer``."""
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(cfg["hidden"]),
        num_hidden_layers=int(cfg["layers"]),
        num_attention_heads=int(cfg["heads"]),
        intermediate_size=int(cfg["intermediate"]),
        hidden_dropout_prob=float(cfg["dropout"]),
        attention_probs_dropout_prob=float(cfg["dropout"]),
        max_position_embeddings=max(512, int(cfg["max_len"])),
        pad_token_id=tokenizer.pad_token_id or 0,
    )
    return BertForMaskedLM(config)


def _mlm_loss(model, ids, mask, labels, amp_dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and logits on the masked positions only (the vocabulary projection of the
    other positions would be wasted work)."""
    with torch.autocast(ids.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        selected = labels != IGNORE_INDEX
        logits = model.cls(hidden[selected]).float()
    target = labels[selected]
    if target.numel() == 0:
        return logits.sum() * 0.0, logits
    return torch.nn.functional.cross_entropy(logits, target), logits


@torch.no_grad()
def evaluate_mlm(
    model,
    examples: Sequence[Example],
    tokenizer: Any,
    cfg: dict[str, Any],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Masked-token loss and accuracy on ``examples`` with a FIXED masking (seeded by
    ``cfg["seed"]``), so values of successive evaluations are comparable."""
    generator = torch.Generator().manual_seed(int(cfg["seed"]) + 1)
    was_training = model.training
    model.eval()
    loss_sum, correct, total = 0.0, 0, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    size = max(1, int(cfg["batch_size"]))
    for begin in range(0, len(order), size):
        batch = [examples[i] for i in order[begin : begin + size]]
        ids, words, mask = pad_examples(batch, tokenizer.pad_token_id or 0)
        masked, labels = mask_tokens(
            ids, words, tokenizer, cfg["mlm_probability"], cfg["whole_word"], generator
        )
        labels = labels.to(device)
        _, logits = _mlm_loss(model, masked.to(device), mask.to(device), labels, amp_dtype)
        target = labels[labels != IGNORE_INDEX]
        if target.numel():
            loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=-1) == target).sum())
            total += int(target.numel())
    model.train(was_training)
    if not total:
        return {"loss": float("nan"), "accuracy": float("nan"), "n_masked": 0}
    return {"loss": loss_sum / total, "accuracy": correct / total, "n_masked": total}


# --------------------------------------------------------------------------- training


def pretrain_fingerprint(
    cfg: dict[str, Any], tokenizer: Any, train_ex: Sequence[Example], held_ex: Sequence[Example]
) -> str:
    """sha256 identifying what a checkpoint may be resumed into: the settings (except
    :data:`RESUME_INSENSITIVE`), the tokenizer and the encoded training and held-out
    sequences (texts, split and word segmentation)."""
    settings = {key: value for key, value in cfg.items() if key not in RESUME_INSENSITIVE}
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            [settings, tokenizer_fingerprint(tokenizer)], sort_keys=True, default=str
        ).encode()
    )
    for part in (train_ex, held_ex):
        digest.update(json.dumps([[ex.input_ids, ex.word_ids] for ex in part]).encode())
    return digest.hexdigest()


def pretrain_mlm(
    texts: Sequence[str],
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    config: dict | None = None,
    threads: int | None = None,
    log_path: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    keep_checkpoint: bool = False,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Pretrain a scratch BERT with masked LM on ``texts``; save it to ``out_dir``.

    ``out_dir`` becomes a ``save_pretrained`` folder (``BertForMaskedLM``, config with
    ``vocab_size = len(tokenizer)``) with the tokenizer files and :data:`META_FILE`
    (settings, tokenizer fingerprint, summary). A seeded ``heldout_fraction`` of the texts
    is kept out of training to measure masked-token loss/accuracy; every evaluation appends
    a JSON line to ``log_path``. Returns the summary.

    Resume: after every evaluation and at the end of every epoch a checkpoint is written
    atomically to ``checkpoint_dir/state.pt`` (default: ``<out_dir>.checkpoint`` beside
    ``out_dir``; in a workflow it must lie outside the rule's outputs). A run that finds
    a checkpoint with its fingerprint (:func:`pretrain_fingerprint`) continues from it
    and ends with the same weights as a run never interrupted; the summary's
    ``resumed_from`` says from where (``None`` for a fresh run). The checkpoint is
    removed after success unless ``keep_checkpoint``. ``on_checkpoint`` is called with
    the loop's progress after each checkpoint is written (tests use it to interrupt).
    """
    cfg = resolve_config(config)
    if threads:
        torch.set_num_threads(int(threads))
    seed = int(cfg["seed"])
    random.seed(seed)
    torch.manual_seed(seed)
    device = resolve_device(cfg["device"])
    amp_dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    tokenizer = load_tokenizer(tokenizer_dir)
    if tokenizer.mask_token_id is None:
        raise ValueError(f"{tokenizer_dir}: the tokenizer has no mask token")
    lexicon = load_lexicon(cfg["lexicon"]) if cfg["whole_word"] else None

    texts = [text for text in texts if text and not text.isspace()]
    train_idx, held_idx = split_heldout(len(texts), float(cfg["heldout_fraction"]), seed)
    max_len, mode = int(cfg["max_len"]), str(cfg["tokenization"])
    train_ex = encode_texts([texts[i] for i in train_idx], tokenizer, max_len, mode, lexicon)
    held_ex = encode_texts([texts[i] for i in held_idx], tokenizer, max_len, mode, lexicon)
    if not train_ex:
        raise ValueError("no training text left after the held-out split")
    content = sum(sum(w >= 0 for w in ex.word_ids) for ex in train_ex)
    words = sum(len({w for w in ex.word_ids if w >= 0}) for ex in train_ex)

    model = build_mlm_model(cfg, tokenizer).to(device)
    model.train()
    optimizer = torch.optim.AdamW(
        decay_groups(
            model.named_parameters(), float(cfg["lr"]), float(cfg["weight_decay"]), "encoder"
        ),
        lr=float(cfg["lr"]),
    )
    batch_size, epochs = int(cfg["batch_size"]), int(cfg["epochs"])
    lengths = [len(ex.input_ids) for ex in train_ex]
    steps_per_epoch = math.ceil(len(train_ex) / batch_size)
    total_steps = max(1, steps_per_epoch * epochs)
    warmup = math.ceil(float(cfg["warmup_ratio"]) * total_steps)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    generator = torch.Generator().manual_seed(seed)  # the masking's own random stream
    pad_id = tokenizer.pad_token_id or 0
    max_seconds = float(cfg["max_minutes"]) * 60.0
    eval_every = int(cfg["eval_every_steps"])
    out = Path(out_dir)
    checkpoints = (
        Path(checkpoint_dir)
        if checkpoint_dir is not None
        else out.with_name(out.name + ".checkpoint")
    )
    fingerprint = pretrain_fingerprint(cfg, tokenizer, train_ex, held_ex)
    # The loop's position; all of it goes into a checkpoint. "epoch": completed epochs.
    state: dict[str, Any] = {
        "epoch": 0,
        "step_in_epoch": 0,
        "step": 0,
        "sentences": 0,
        "train_s": 0.0,
        "loss_sum": 0.0,
        "loss_n": 0,
        "period_sentences": 0,
        "period_train_s": 0.0,
        "elapsed_s": 0.0,
        "stop_reason": "",
        "log": [],
    }
    resumed_from = None
    saved = load_checkpoint(checkpoints, fingerprint, _LOG.warning)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        generator.set_state(saved["masking"])
        set_rng_state(saved["rng"])
        state.update(saved["progress"])
        resumed_from = {key: state[key] for key in ("epoch", "step_in_epoch", "step")}
        _LOG.info(
            "resuming from %s: %d epoch(s) done, step %d",
            checkpoints / CHECKPOINT_FILE,
            state["epoch"],
            state["step"],
        )
    start_time = time.perf_counter()
    elapsed_before = float(state["elapsed_s"])

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - start_time

    # a stop is re-decided with the current settings (max_minutes may differ)
    state["stop_reason"] = "max_minutes" if max_seconds and elapsed() >= max_seconds else ""
    log_file = open(log_path, "w", encoding="utf-8") if log_path else None  # noqa: SIM115
    if log_file is not None:  # the log so far (empty unless resumed)
        log_file.writelines(json.dumps(line) + "\n" for line in state["log"])
        log_file.flush()

    def last_eval_step() -> int | None:
        return state["log"][-1]["step"] if state["log"] else None

    def log_eval(epoch: float) -> None:
        held = evaluate_mlm(model, held_ex, tokenizer, cfg, device, amp_dtype) if held_ex else {}
        line = {
            "epoch": round(epoch, 4),
            "step": state["step"],
            "loss": state["loss_sum"] / state["loss_n"] if state["loss_n"] else None,
            "heldout_loss": held.get("loss"),
            "heldout_accuracy": held.get("accuracy"),
            "heldout_masked": held.get("n_masked", 0),
            "lr": scheduler.get_last_lr()[0],
            "elapsed_s": round(elapsed(), 2),
            "sentences_per_s": (
                round(state["period_sentences"] / state["period_train_s"], 2)
                if state["period_train_s"]
                else None
            ),
        }
        state["loss_sum"], state["loss_n"] = 0.0, 0
        state["period_sentences"], state["period_train_s"] = 0, 0.0
        state["log"].append(line)
        if log_file is not None:
            log_file.write(json.dumps(line) + "\n")
            log_file.flush()

    def save_checkpoint() -> None:
        state["elapsed_s"] = elapsed()
        checkpoint = {
            "fingerprint": fingerprint,
            "progress": state,
            "model": cpu_state(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "masking": generator.get_state(),
            "rng": rng_state(),
        }
        # atomic: a full disk or a kill mid-write leaves the previous checkpoint intact
        save_torch(checkpoint, checkpoints / CHECKPOINT_FILE)
        if on_checkpoint is not None:
            on_checkpoint(dict(state))

    try:
        while not state["stop_reason"] and state["epoch"] < epochs:
            epoch = state["epoch"]
            batches = make_batches(lengths, batch_size, seed, epoch)
            while state["step_in_epoch"] < len(batches):  # mid-epoch: skip the batches done
                batch = batches[state["step_in_epoch"]]
                tick = time.perf_counter()
                ids, words_t, mask = pad_examples([train_ex[i] for i in batch], pad_id)
                masked, labels = mask_tokens(
                    ids, words_t, tokenizer, cfg["mlm_probability"], cfg["whole_word"], generator
                )
                loss, _ = _mlm_loss(
                    model, masked.to(device), mask.to(device), labels.to(device), amp_dtype
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if float(cfg["grad_clip"]) > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(cfg["grad_clip"]))
                optimizer.step()
                scheduler.step()
                loss_value = float(loss.detach())
                spent = time.perf_counter() - tick
                state["step"] += 1
                state["step_in_epoch"] += 1
                state["sentences"] += len(batch)
                state["train_s"] += spent
                state["loss_sum"] += loss_value
                state["loss_n"] += 1
                state["period_sentences"] += len(batch)
                state["period_train_s"] += spent
                if not math.isfinite(loss_value):
                    raise FloatingPointError(f"loss {loss_value} at step {state['step']}")
                if max_seconds and elapsed() >= max_seconds:
                    state["stop_reason"] = "max_minutes"
                    break
                if eval_every and state["step"] % eval_every == 0:
                    log_eval(epoch + state["step_in_epoch"] / steps_per_epoch)
                    save_checkpoint()
            if state["stop_reason"]:
                break
            state["epoch"], state["step_in_epoch"] = epoch + 1, 0
            if last_eval_step() != state["step"]:  # not evaluated at this step yet
                log_eval(epoch + 1)
            save_checkpoint()
        if last_eval_step() != state["step"]:
            log_eval(state["step"] / steps_per_epoch)
            save_checkpoint()
    finally:
        if log_file is not None:
            log_file.close()

    last = state["log"][-1] if state["log"] else {}
    n_params = sum(p.numel() for p in model.parameters())
    summary = {
        "steps": state["step"],
        "planned_steps": total_steps,
        "epochs": round(state["step"] / steps_per_epoch, 4),
        "stop_reason": state["stop_reason"] or "epochs",
        "minutes": round(elapsed() / 60.0, 3),
        "sentences_per_s": (
            round(state["sentences"] / state["train_s"], 2) if state["train_s"] else None
        ),
        "heldout_accuracy": last.get("heldout_accuracy"),
        "heldout_loss": last.get("heldout_loss"),
        "final_train_loss": last.get("loss"),
        "params": n_params,
        "encoder_params": sum(p.numel() for p in model.bert.parameters()),
        "n_texts": len(texts),
        "n_train_texts": len(train_idx),
        "n_heldout_texts": len(held_idx),
        "n_train_sequences": len(train_ex),
        "content_tokens": content,
        "mean_word_len": round(content / words, 4) if words else None,
        "device": str(device),
        "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "off",
        "resumed_from": resumed_from,
    }
    save_pretrained_mlm(model, tokenizer, out_dir, cfg, summary)
    if not keep_checkpoint:
        shutil.rmtree(checkpoints, ignore_errors=True)
    return summary


def save_pretrained_mlm(
    model, tokenizer: Any, out_dir: str | Path, cfg: dict[str, Any], summary: dict[str, Any]
) -> Path:
    """Write the model (``save_pretrained``), the tokenizer and :data:`META_FILE`.

    Atomically (:func:`nerflow.atomic.atomic_model_folder`): a failed write raises
    :class:`~nerflow.atomic.WriteError` naming ``out_dir`` and leaves no half-written
    folder there."""
    out = Path(out_dir)
    meta = {
        "config": cfg,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "summary": summary,
    }
    with atomic_model_folder(out) as folder:
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))
        (folder / META_FILE).write_text(
            json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
    return out
