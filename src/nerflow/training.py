"""Training loop: bucketed dynamic batches, AdamW + warmup, AMP, span-level dev selection,
early stopping, and resumable checkpoints.

Dev evaluation uses the real pipeline: :func:`nerflow.predict.predict_records` restores
spans on the original dev texts (sliding windows included) and
:func:`nerflow.scoring.score` scores them. The best model (by ``select_metric``) is
saved with :func:`nerflow.models.save_model` into ``out_dir/"model"``; every evaluation
appends one JSON line to ``log_path``.

Weight averaging: with ``ema_decay`` > 0 an exponential moving average of the weights
(:class:`torch.optim.swa_utils.AveragedModel`) is updated after every optimizer step and
is what gets evaluated and kept as the best model; the raw weights keep training. With
CLUENER's ~340 steps per epoch, 0.999 averages roughly the last three epochs.

Resume: after every evaluation and at the end of every epoch a checkpoint (model,
optimizer, scheduler, grad scaler, RNG states, progress, best weights, log lines) is
written atomically to ``checkpoint_dir/state.pt``. ``checkpoint_dir`` must lie OUTSIDE
the rule's declared outputs (Snakemake deletes the outputs of a failed job). When
:func:`train` starts and finds a checkpoint whose fingerprint matches (experiment config
without ``epochs``/``max_minutes``/``patience``/``device``, labels and training data),
it continues from it: mid-epoch checkpoints skip the batches already seen, since each
epoch's batch order depends only on the seed and the epoch number. The checkpoint is
deleted after a successful run unless ``keep_checkpoint`` is set. Resuming with more
epochs keeps the step count, so the linear schedule continues from there towards the
new total (the learning rate jumps up accordingly).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

import torch

from nerflow.atomic import save_torch
from nerflow.batching import make_batches
from nerflow.cache import cache_features_fingerprint, check_cache, load_cache
from nerflow.models import TaggerModel, build_model, count_parameters, save_model
from nerflow.predict import predict_records
from nerflow.provenance import describe_hardware
from nerflow.records import Record
from nerflow.resume import CHECKPOINT_FILE, cpu_state, load_checkpoint, rng_state, set_rng_state
from nerflow.scoring import score
from nerflow.tagging import label_types
from nerflow.tensors import IGNORE_INDEX, pad, padding_mask, resolve_device

SELECT_METRICS = ("micro_f1", "macro_f1", "clue_macro_f1")
RESUME_INSENSITIVE = ("epochs", "max_minutes", "patience", "device")
"""``train`` settings that may change between an interrupted run and its resumption."""

TRAIN_DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    "batch_size": 32,
    "lr": 5e-5,
    "head_lr": 5e-3,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "grad_clip": 1.0,
    "seed": 42,
    "patience": 2,
    "select_metric": "micro_f1",
    "amp": "auto",
    "device": "auto",
    "eval_every_steps": 0,
    "max_minutes": 0,
    "ema_decay": 0.0,
}


# --------------------------------------------------------------------------- helpers


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``amp`` (auto|bf16|fp16|off): only on CUDA; bf16 where supported."""
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"unknown amp setting {amp!r}")
    if amp == "off" or device.type != "cuda":
        return None
    if amp in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def select_value(result: dict, metric: str) -> float:
    """The selection metric from a :func:`nerflow.scoring.score` result."""
    if metric == "micro_f1":
        return float(result["micro"]["f1"])
    if metric in ("macro_f1", "clue_macro_f1"):
        return float(result[metric])
    raise ValueError(f"unknown select_metric {metric!r}; expected one of {SELECT_METRICS}")


def fingerprint(exp_cfg: dict, labels: Sequence[str], cache: dict) -> str:
    """sha256 identifying what a checkpoint may be resumed into (see module docstring)."""
    cfg = json.loads(json.dumps(exp_cfg, sort_keys=True, default=str))
    train_cfg = cfg.get("train") or {}
    for key in RESUME_INSENSITIVE:
        train_cfg.pop(key, None)
    digest = hashlib.sha256()
    digest.update(json.dumps([cfg, list(labels), cache["meta"]], sort_keys=True).encode())
    for tensor in (*cache["input_ids"], *cache["labels"]):
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


@dataclass
class Progress:
    """Everything about the loop's position that a checkpoint must carry."""

    epoch: int = 0  # completed epochs
    step_in_epoch: int = 0  # batches done in the current epoch
    global_step: int = 0
    best_metric: float = -math.inf
    best_epoch: int = 0
    best_step: int = 0
    bad_evals: int = 0
    last_eval_step: int = -1
    loss_sum: float = 0.0
    loss_count: int = 0
    period_sentences: int = 0
    period_train_s: float = 0.0
    total_sentences: int = 0
    total_train_s: float = 0.0
    elapsed_s: float = 0.0
    stop_reason: str = ""
    log_lines: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------- training


def averaged_model(model: TaggerModel, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of ``model``'s weights (``torch.optim.swa_utils``).

    The featurizer (a plain attribute holding the lexicon) is shared, not deep-copied.
    """
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    featurizer, model.featurizer = model.featurizer, None
    try:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    finally:
        model.featurizer = featurizer
    ema.module.featurizer = featurizer
    return ema


class _Trainer:
    """One training run; :func:`train` is the public entry point."""

    def __init__(
        self,
        exp_cfg: dict,
        cache: dict,
        dev_records: Sequence[Record],
        tokenizer: Any,
        labels: Sequence[str],
        out_dir: Path,
        log_path: Path,
        threads: int,
        progress_stream: TextIO | None,
        checkpoint_dir: Path,
    ) -> None:
        self.exp_cfg = exp_cfg
        self.cfg = {**TRAIN_DEFAULTS, **(exp_cfg.get("train") or {})}
        self.cache = cache
        self.dev_records = list(dev_records)
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.types = label_types(self.labels)
        self.out_dir = out_dir
        self.log_path = log_path
        self.stream = progress_stream
        self.checkpoint_dir = checkpoint_dir
        self.device = resolve_device(self.cfg["device"])
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, int(threads)))
        self.amp_dtype = resolve_amp(str(self.cfg["amp"]), self.device)
        if self.metric not in SELECT_METRICS:
            raise ValueError(f"unknown select_metric {self.metric!r}; expected {SELECT_METRICS}")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.lengths = [len(ids) for ids in cache["input_ids"]]
        if not self.lengths:
            raise ValueError("empty training cache")
        self.batch_size = int(self.cfg["batch_size"])
        self.batches_per_epoch = len(make_batches(self.lengths, self.batch_size, 0, 0))
        self.epochs = int(self.cfg["epochs"])

        torch.manual_seed(int(self.cfg["seed"]))
        self.model: TaggerModel = build_model(exp_cfg, self.labels, tokenizer).to(self.device)
        if self.model.needs_spans and "spans" not in cache:
            raise ValueError("the span head needs a cache with gold token spans (rebuild it)")
        featurizer = self.model.featurizer
        wanted = featurizer.fingerprint() if featurizer is not None else None
        if cache_features_fingerprint(cache) != wanted:
            raise ValueError(
                "the training cache was built with other input features than the experiment's"
                " (build it with build_cache(..., features=..., feature_dir=...) from the"
                " same feature assets)"
            )
        self.optimizer = torch.optim.AdamW(
            self.model.param_groups(
                float(self.cfg["lr"]), float(self.cfg["head_lr"]), float(self.cfg["weight_decay"])
            ),
            fused=self.device.type == "cuda",
        )
        from transformers import get_linear_schedule_with_warmup

        total_steps = max(1, self.epochs * self.batches_per_epoch)
        warmup = int(round(float(self.cfg["warmup_ratio"]) * total_steps))
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, warmup, total_steps)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.amp_dtype == torch.float16
        )
        decay = float(self.cfg["ema_decay"])
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"train.ema_decay must be in [0, 1), got {decay}")
        self.ema = averaged_model(self.model, decay) if decay > 0 else None
        self.progress = Progress()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.fingerprint = fingerprint(exp_cfg, self.labels, cache)
        self.resumed_from: dict[str, int] | None = None
        self.run_start = time.perf_counter()
        self.elapsed_before = 0.0

    @property
    def metric(self) -> str:
        return str(self.cfg["select_metric"])

    def say(self, message: str) -> None:
        if self.stream is not None:
            from tqdm import tqdm

            tqdm.write(f"[nerflow.train] {message}", file=self.stream)  # keeps the bar intact

    # ------------------------------------------------------------------ checkpoints

    def try_resume(self) -> None:
        state = load_checkpoint(self.checkpoint_dir, self.fingerprint, self.say)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        set_rng_state(state["rng"])
        names = {f.name for f in fields(Progress)}
        self.progress = Progress(**{k: v for k, v in state["progress"].items() if k in names})
        self.best_state = state["best_model"]
        self.elapsed_before = self.progress.elapsed_s
        # a stop is re-decided with the current settings (patience/max_minutes may differ)
        self.progress.stop_reason = ""
        patience = int(self.cfg["patience"])
        if patience > 0 and self.progress.bad_evals >= patience:
            self.progress.stop_reason = "patience"
        self.resumed_from = {
            "epoch": self.progress.epoch,
            "step_in_epoch": self.progress.step_in_epoch,
            "global_step": self.progress.global_step,
        }
        self.say(
            f"resuming from {self.checkpoint_dir / CHECKPOINT_FILE}: "
            f"{self.progress.epoch} epoch(s) done, step {self.progress.global_step}"
        )

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.run_start

    def save_checkpoint(self) -> None:
        self.progress.elapsed_s = self.elapsed()
        state = {
            "fingerprint": self.fingerprint,
            "progress": asdict(self.progress),
            "model": cpu_state(self.model),
            "best_model": self.best_state,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": cpu_state(self.ema) if self.ema is not None else None,
            "rng": rng_state(),
        }
        # atomic: a full disk or a kill mid-write leaves the previous checkpoint intact
        save_torch(state, self.checkpoint_dir / CHECKPOINT_FILE)

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, epoch: int) -> bool:
        """Score the dev set, update best/patience, log a line; True when patience ran out."""
        p = self.progress
        evaluated = self.ema.module if self.ema is not None else self.model
        predictions = predict_records(
            evaluated,
            self.tokenizer,
            self.dev_records,
            mode=self.exp_cfg["tokenization"],
            max_len=int(self.exp_cfg["max_len"]),
            stride=int(self.exp_cfg.get("stride", 32)),
            scheme=self.exp_cfg["scheme"],
            labels=self.labels,
            batch_size=2 * self.batch_size,
            device=self.device,
        )
        result = score(self.dev_records, predictions, self.types)
        value = select_value(result, self.metric)
        improved = value > p.best_metric
        if improved:
            p.best_metric, p.best_epoch, p.best_step, p.bad_evals = value, epoch, p.global_step, 0
            self.best_state = cpu_state(evaluated)
        else:
            p.bad_evals += 1
        line = {
            "epoch": epoch,
            "step": p.global_step,
            "loss": p.loss_sum / p.loss_count if p.loss_count else None,
            "dev_micro_f1": float(result["micro"]["f1"]),
            "dev_macro_f1": float(result["macro_f1"]),
            "dev_clue_macro_f1": float(result["clue_macro_f1"]),
            "lr": self.group_lr("encoder"),
            "head_lr": self.group_lr("head"),
            "sentences_per_s": p.period_sentences / p.period_train_s if p.period_train_s else None,
            "elapsed_s": round(self.elapsed(), 3),
            "best": improved,
        }
        p.log_lines.append(line)
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
        p.loss_sum, p.loss_count, p.period_sentences, p.period_train_s = 0.0, 0, 0, 0.0
        p.last_eval_step = p.global_step
        self.say(
            f"epoch {epoch} step {p.global_step}: dev micro F1 {line['dev_micro_f1']:.4f}"
            f" ({self.metric} {value:.4f}{', best' if improved else ''})"
        )
        patience = int(self.cfg["patience"])
        return patience > 0 and p.bad_evals >= patience

    def group_lr(self, name: str) -> float | None:
        """Current learning rate of the ``encoder`` or ``head`` parameter groups."""
        for group in self.optimizer.param_groups:
            if str(group.get("name", "")).startswith(name):
                return float(group["lr"])
        return None

    # ------------------------------------------------------------------ loop

    def train_step(self, batch: list[int]) -> None:
        p = self.progress
        start = time.perf_counter()
        rows = [self.cache["input_ids"][i] for i in batch]
        input_ids, attention_mask = pad(rows, self.pad_id), padding_mask(rows)
        labels = pad([self.cache["labels"][i] for i in batch], IGNORE_INDEX)
        features = {
            name: pad([per_record[i] for i in batch], 0, input_ids.size(1)).to(
                self.device, non_blocking=True
            )
            for name, per_record in (self.cache.get("features") or {}).items()
        }
        input_ids = input_ids.to(self.device, non_blocking=True)
        attention_mask = attention_mask.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)
            if self.amp_dtype is not None
            else contextlib.nullcontext()
        )
        spans = None
        if self.model.needs_spans:
            spans = [self.cache["spans"][i] for i in batch]
        with autocast:
            loss, _ = self.model(input_ids, attention_mask, labels, spans=spans, **features)
        assert loss is not None
        self.scaler.scale(loss).backward()
        clip = float(self.cfg["grad_clip"])
        if clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        seconds = time.perf_counter() - start
        p.loss_sum += loss_value
        p.loss_count += 1
        p.global_step += 1
        p.step_in_epoch += 1
        p.period_sentences += len(batch)
        p.total_sentences += len(batch)
        p.period_train_s += seconds
        p.total_train_s += seconds

    def out_of_time(self) -> bool:
        budget = float(self.cfg["max_minutes"])
        return budget > 0 and self.elapsed() >= 60.0 * budget

    def run(self) -> None:
        from tqdm import tqdm

        p = self.progress
        eval_every = int(self.cfg["eval_every_steps"])
        seed = int(self.cfg["seed"])
        self.model.train()
        bar = tqdm(
            total=self.epochs * self.batches_per_epoch,
            initial=min(p.global_step, self.epochs * self.batches_per_epoch),
            file=self.stream,
            disable=self.stream is None,
            desc="train",
            unit="batch",
            dynamic_ncols=True,
            mininterval=1.0,
        )
        try:
            while not p.stop_reason and p.epoch < self.epochs:
                epoch = p.epoch + 1
                batches = make_batches(self.lengths, self.batch_size, seed, p.epoch)
                while p.step_in_epoch < len(batches):
                    self.train_step(batches[p.step_in_epoch])
                    bar.update(1)
                    if p.global_step % 20 == 0 and p.loss_count:
                        bar.set_postfix(loss=f"{p.loss_sum / p.loss_count:.4f}", epoch=epoch)
                    if eval_every > 0 and p.global_step % eval_every == 0:
                        if self.evaluate(epoch):
                            p.stop_reason = "patience"
                        self.save_checkpoint()
                    if not p.stop_reason and self.out_of_time():
                        if p.last_eval_step != p.global_step:
                            self.evaluate(epoch)
                        p.stop_reason = "time_budget"
                        self.save_checkpoint()
                    if p.stop_reason:
                        break
                if p.stop_reason:
                    break
                p.epoch, p.step_in_epoch = epoch, 0
                if eval_every <= 0 and self.evaluate(epoch):
                    p.stop_reason = "patience"
                self.save_checkpoint()
            if not p.stop_reason and p.last_eval_step != p.global_step:
                self.evaluate(max(p.epoch, 1))  # final evaluation after the last steps
        finally:
            bar.close()
        if not p.stop_reason:
            p.stop_reason = "completed"

    def finish(self) -> dict[str, Any]:
        p = self.progress
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        summary = {
            "best_epoch": p.best_epoch,
            "best_step": p.best_step,
            "best_metric": p.best_metric if math.isfinite(p.best_metric) else None,
            "select_metric": self.metric,
            "epochs_run": p.epoch,
            "steps": p.global_step,
            "train_minutes": round(self.elapsed() / 60.0, 4),
            "sentences_per_s": p.total_sentences / p.total_train_s if p.total_train_s else None,
            "params": count_parameters(self.model),
            "stopped_early": p.stop_reason in ("patience", "time_budget"),
            "stop_reason": p.stop_reason,
            "device": str(self.device),
            "hardware": describe_hardware(self.device),
            "amp": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off",
            "resumed_from": self.resumed_from,
        }
        save_model(
            self.model,
            self.out_dir / "model",
            self.tokenizer,
            {
                "tokenization": self.exp_cfg["tokenization"],
                "max_len": int(self.exp_cfg["max_len"]),
                "stride": int(self.exp_cfg.get("stride", 32)),
                "training": summary,
            },
        )
        return summary


def train(
    exp_cfg: dict,
    train_cache: dict | str | Path,
    dev_records: Sequence[Record],
    tokenizer: Any,
    labels: Sequence[str],
    out_dir: str | Path,
    log_path: str | Path,
    threads: int = 1,
    progress_stream: TextIO | None = sys.stderr,
    checkpoint_dir: str | Path | None = None,
    keep_checkpoint: bool = False,
) -> dict[str, Any]:
    """Train a tagger on a cache (dict or path) and keep the best model by dev span score.

    Input features: with a ``features`` block in ``exp_cfg`` the model loads its feature
    assets from ``exp_cfg["feature_dir"]`` (default: the tokenizer's folder) and the cache
    must have been built from the same assets (``build_cache(..., features=...,
    feature_dir=...)``); the model folder then holds a copy of the assets.

    Writes ``out_dir/"model"`` (see :func:`nerflow.models.save_model`) and ``log_path``
    (one JSON line per evaluation: epoch, step, loss, dev_micro_f1, dev_macro_f1,
    dev_clue_macro_f1, lr, head_lr, sentences_per_s, elapsed_s, best). ``checkpoint_dir``
    (default ``out_dir/"checkpoint"``) should be outside the workflow rule's outputs;
    it is removed after success unless ``keep_checkpoint``. ``progress_stream=None``
    silences the progress bar and messages.

    Returns ``{best_epoch, best_step, best_metric, select_metric, epochs_run, steps,
    train_minutes, sentences_per_s, params, stopped_early, stop_reason, device, amp,
    resumed_from}``.
    """
    cache = load_cache(train_cache) if isinstance(train_cache, str | Path) else train_cache
    check_cache(cache, tokenizer, labels, exp_cfg["scheme"])
    meta = cache["meta"]
    if meta["mode"] != exp_cfg["tokenization"] or int(meta["max_len"]) != int(exp_cfg["max_len"]):
        raise ValueError(
            f"cache built for mode={meta['mode']} max_len={meta['max_len']}, experiment wants "
            f"mode={exp_cfg['tokenization']} max_len={exp_cfg['max_len']}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = Path(log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    trainer = _Trainer(
        exp_cfg,
        cache,
        dev_records,
        tokenizer,
        labels,
        out,
        log,
        threads,
        progress_stream,
        Path(checkpoint_dir) if checkpoint_dir is not None else out / "checkpoint",
    )
    trainer.try_resume()
    with open(log, "w", encoding="utf-8") as handle:  # the log so far (empty unless resumed)
        for line in trainer.progress.log_lines:
            handle.write(json.dumps(line) + "\n")
    trainer.run()
    summary = trainer.finish()
    if not keep_checkpoint:
        shutil.rmtree(trainer.checkpoint_dir, ignore_errors=True)
    return summary
