"""In-domain masked-LM pretraining of a from-scratch BERT encoder.

:func:`pretrain_mlm` trains a ``BertForMaskedLM`` (:mod:`nerflow.pretraining.mlm`) on unlabelled
texts (the texts of train and test; never dev) with dynamic BERT masking, optionally
whole-word masking over a jieba segmentation (:mod:`nerflow.pretraining.masking`), and saves it with
``save_pretrained`` next to the character tokenizer. The folder is a regular encoder for
fine-tuning: ``AutoModelForTokenClassification.from_pretrained(folder)`` loads its
embeddings and encoder layers (the MLM head is dropped, a fresh classifier is added).

Training is the shared loop (:mod:`nerflow.training.loop`: AdamW, linear warmup schedule, autocast
``auto``, clipping, time budget, checkpoints) driving :class:`MaskedLMTask`. The masking
draws from a generator of its own, seeded with ``seed``, that checkpoints carry.

Resume: after every held-out evaluation and at the end of every epoch a checkpoint is
written atomically to ``checkpoint_dir/state.pt``. A run that finds a checkpoint of the
same settings (all but ``max_minutes``/``device``), tokenizer and texts continues from it,
and on the same device and threads ends with the same weights as a run never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from nerflow.atomic import atomic_model_folder
from nerflow.config.scratch import PretrainConfig
from nerflow.nn.optim import decay_groups
from nerflow.pretraining.masking import load_lexicon, mask_tokens
from nerflow.pretraining.mlm import (
    Example,
    build_mlm_model,
    encode_texts,
    evaluate_mlm,
    masked_lm_loss,
    pad_examples,
    split_heldout,
)
from nerflow.tensors import resolve_device, use_cpu_threads
from nerflow.text.vocab import load_tokenizer, tokenizer_fingerprint
from nerflow.training.amp import amp_name, resolve_amp
from nerflow.training.loop import Loop, LoopSettings

META_FILE = "nerflow_pretrain.json"
RESUME_INSENSITIVE = ("max_minutes", "device")
"""Settings that may change between an interrupted pretraining and its resumption."""
STOP_REASONS = {"completed": "epochs", "time_budget": "max_minutes"}
"""The summary's names of the loop's stop reasons."""
_LOG = logging.getLogger(__name__)


def pretrain_fingerprint(
    config: PretrainConfig,
    tokenizer: Any,
    train_ex: Sequence[Example],
    held_ex: Sequence[Example],
) -> str:
    """sha256 identifying what a checkpoint may be resumed into: the settings (except
    :data:`RESUME_INSENSITIVE`), the tokenizer and the encoded training and held-out
    sequences (texts, split and word segmentation)."""
    settings = {
        key: value for key, value in config.to_dict().items() if key not in RESUME_INSENSITIVE
    }
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            [settings, tokenizer_fingerprint(tokenizer)], sort_keys=True, default=str
        ).encode()
    )
    for part in (train_ex, held_ex):
        digest.update(json.dumps([[ex.input_ids, ex.word_ids] for ex in part]).encode())
    return digest.hexdigest()


def _rounded(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


class MaskedLMTask:
    """The loop's masked-LM task: dynamic masking of the training examples, masked-token
    loss and accuracy on the held-out examples."""

    evaluate_every_epoch = True  # also when evaluating every N steps
    finite_loss_required = True
    ema_shared: tuple[str, ...] = ()

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        config: PretrainConfig,
        examples: tuple[Sequence[Example], Sequence[Example]],
        device: torch.device,
        amp_dtype: torch.dtype | None,
    ) -> None:
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.train_ex, self.held_ex = examples
        self.device, self.amp_dtype = device, amp_dtype
        self.lengths = [len(ex.input_ids) for ex in self.train_ex]
        self.fingerprint = pretrain_fingerprint(config, tokenizer, self.train_ex, self.held_ex)
        self.generator = torch.Generator().manual_seed(int(config.seed))  # masking's own
        self.pad_id = tokenizer.pad_token_id or 0

    def param_groups(self) -> list[dict[str, Any]]:
        config = self.config
        named = self.model.named_parameters()
        return decay_groups(named, float(config.lr), float(config.weight_decay), "encoder")

    def loss(self, batch: list[int]) -> torch.Tensor:
        ids, words, mask = pad_examples([self.train_ex[i] for i in batch], self.pad_id)
        config, device = self.config, self.device
        masked, labels = mask_tokens(
            ids, words, self.tokenizer, config.mlm_probability, config.whole_word, self.generator
        )
        return masked_lm_loss(self.model, masked.to(device), mask.to(device), labels.to(device))

    def evaluate(self, loop: Loop) -> tuple[dict[str, Any], bool]:
        model, examples = loop.evaluated_model, self.held_ex
        held = (
            evaluate_mlm(model, examples, self.tokenizer, self.config, self.device, self.amp_dtype)
            if examples
            else {}
        )
        p = loop.progress
        epoch = p.epoch + p.step_in_epoch / loop.batches_per_epoch if p.step_in_epoch else p.epoch
        line = {
            "epoch": round(epoch, 4),
            "step": p.global_step,
            "loss": p.period.mean_loss(),
            "heldout_loss": held.get("loss"),
            "heldout_accuracy": held.get("accuracy"),
            "heldout_masked": held.get("n_masked", 0),
            "lr": loop.group_lr("encoder"),
            "elapsed_s": round(loop.elapsed(), 2),
            "sentences_per_s": _rounded(p.period.rate(), 2),
        }
        return line, False

    def resume_stop(self, loop: Loop) -> str:
        return "time_budget" if loop.out_of_time() else ""

    def state_dict(self) -> dict[str, Any]:
        return {"masking": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["masking"])

    def say(self, message: str) -> None:
        _LOG.info(message)

    def warn(self, message: str) -> None:
        _LOG.warning(message)

    def summary(self, loop: Loop, corpus: dict[str, Any]) -> dict[str, Any]:
        """The run's summary, with the statistics of the ``corpus`` trained on."""
        p, model = loop.progress, self.model
        last = p.log_lines[-1] if p.log_lines else {}
        resumed = loop.resumed_from
        return {
            "steps": p.global_step,
            "planned_steps": loop.total_steps,
            "epochs": round(p.global_step / loop.batches_per_epoch, 4),
            "stop_reason": STOP_REASONS.get(p.stop_reason, p.stop_reason),
            "minutes": round(loop.elapsed() / 60.0, 3),
            "sentences_per_s": _rounded(p.total.rate(), 2),
            "heldout_accuracy": last.get("heldout_accuracy"),
            "heldout_loss": last.get("heldout_loss"),
            "final_train_loss": last.get("loss"),
            "params": sum(q.numel() for q in model.parameters()),
            "encoder_params": sum(q.numel() for q in model.bert.parameters()),
            **corpus,
            "device": str(self.device),
            "amp": amp_name(self.amp_dtype),
            "resumed_from": (
                {
                    "epoch": resumed["epoch"],
                    "step_in_epoch": resumed["step_in_epoch"],
                    "step": resumed["global_step"],
                }
                if resumed is not None
                else None
            ),
        }


def pretrain_mlm(
    texts: Sequence[str],
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    config: PretrainConfig | Mapping[str, Any] | None = None,
    threads: int | None = None,
    log_path: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    keep_checkpoint: bool = False,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Pretrain a scratch BERT with masked LM on ``texts``; save it to ``out_dir``.

    ``config``: the run's settings (a mapping is read with the defaults of
    :class:`~nerflow.config.scratch.PretrainConfig`; None: every default).
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
    the loop's progress (:class:`nerflow.training.progress.Progress` as a dict) after each
    checkpoint is written (tests use it to interrupt).
    """
    cfg = PretrainConfig.coerce(config)
    if threads:
        use_cpu_threads(threads)
    seed = int(cfg.seed)
    random.seed(seed)
    torch.manual_seed(seed)
    device = resolve_device(cfg.device)
    amp_dtype = resolve_amp("auto", device)
    tokenizer = load_tokenizer(tokenizer_dir)
    if tokenizer.mask_token_id is None:
        raise ValueError(f"{tokenizer_dir}: the tokenizer has no mask token")
    lexicon = load_lexicon(cfg.lexicon) if cfg.whole_word else None

    texts = [text for text in texts if text and not text.isspace()]
    train_idx, held_idx = split_heldout(len(texts), float(cfg.heldout_fraction), seed)
    max_len, mode = int(cfg.max_len), str(cfg.tokenization)
    train_ex = encode_texts([texts[i] for i in train_idx], tokenizer, max_len, mode, lexicon)
    held_ex = encode_texts([texts[i] for i in held_idx], tokenizer, max_len, mode, lexicon)
    if not train_ex:
        raise ValueError("no training text left after the held-out split")
    content = sum(sum(w >= 0 for w in ex.word_ids) for ex in train_ex)
    words = sum(len({w for w in ex.word_ids if w >= 0}) for ex in train_ex)
    corpus = {
        "n_texts": len(texts),
        "n_train_texts": len(train_idx),
        "n_heldout_texts": len(held_idx),
        "n_train_sequences": len(train_ex),
        "content_tokens": content,
        "mean_word_len": round(content / words, 4) if words else None,
    }

    model = build_mlm_model(cfg, tokenizer).to(device)
    task = MaskedLMTask(model, tokenizer, cfg, (train_ex, held_ex), device, amp_dtype)
    out = Path(out_dir)
    checkpoints = (
        Path(checkpoint_dir)
        if checkpoint_dir is not None
        else out.with_name(out.name + ".checkpoint")
    )
    settings = LoopSettings.from_config(cfg)
    loop = Loop(task, settings, device, amp_dtype, checkpoints, log_path, None, on_checkpoint)
    loop.resume()
    loop.run()
    summary = task.summary(loop, corpus)
    save_pretrained_mlm(model, tokenizer, out_dir, cfg, summary)
    if not keep_checkpoint:
        shutil.rmtree(checkpoints, ignore_errors=True)
    return summary


def save_pretrained_mlm(
    model, tokenizer: Any, out_dir: str | Path, config: PretrainConfig, summary: dict[str, Any]
) -> Path:
    """Write the model (``save_pretrained``), the tokenizer and :data:`META_FILE`.

    Atomically (:func:`nerflow.atomic.atomic_model_folder`): a failed write raises
    :class:`~nerflow.atomic.WriteError` naming ``out_dir`` and leaves no half-written
    folder there."""
    out = Path(out_dir)
    meta = {
        "config": config.to_dict(),
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
