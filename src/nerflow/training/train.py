"""Tagger fine-tuning: the shared loop (:mod:`nerflow.training.loop`: bucketed dynamic batches,
AdamW + warmup, AMP, EMA, time budget, resumable checkpoints) driving
:class:`TaggingTask` on a tensor cache, with span-level dev selection and early stopping.

Dev evaluation uses the real pipeline: :func:`nerflow.inference.predict.predict_records` restores
spans on the original dev texts (sliding windows included) and
:func:`nerflow.evaluation.scoring.score` scores them. The best model (by ``select_metric``) is
saved with :func:`nerflow.models.folder.save_model` into ``out_dir/"model"``; every evaluation
appends one JSON line to ``log_path``.

Settings that depend on the training data (the span head's ``span_decoding: auto``) are
settled once by the head (:meth:`~nerflow.models.head.Head.fit_to_train`), from the nesting
of the gold spans in the training cache (:func:`cache_nesting`), before the first
evaluation, so dev selection sees what the saved model keeps (its head settings and
``train_nesting`` in its ``nerflow_head.json``).

Weight averaging: with ``ema_decay`` > 0 the averaged weights are what gets evaluated
and kept as the best model; the raw weights keep training. With CLUENER's ~340 steps per
epoch, 0.999 averages roughly the last three epochs.

Resume: ``checkpoint_dir`` must lie OUTSIDE the rule's declared outputs (Snakemake
deletes the outputs of a failed job). A checkpoint is resumed when its fingerprint
matches (experiment config without ``epochs``/``max_minutes``/``patience``/``device``,
labels and training data); it also carries the best weights and the patience count, and
is deleted after a successful run unless ``keep_checkpoint`` is set. Resuming with more
epochs keeps the step count, so the linear schedule continues from there towards the
new total (the learning rate jumps up accordingly).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from nerflow.config.experiment import SELECT_METRICS, ExperimentConfig
from nerflow.data.records import Record, Span
from nerflow.data.spans import nesting
from nerflow.evaluation.scoring import score
from nerflow.features.embeddings import FeatureInputs
from nerflow.features.spec import switched_off_settings
from nerflow.inference.predict import predict_records
from nerflow.models.bilstm import BiLSTMEmitter, packaged_char_vectors
from nerflow.models.factory import build_model
from nerflow.models.folder import save_model
from nerflow.models.tagger import TaggerModel, count_parameters
from nerflow.provenance import describe_hardware
from nerflow.tensors import (
    IGNORE_INDEX,
    pad,
    padding_mask,
    peak_gpu_mib,
    resolve_device,
    use_cpu_threads,
)
from nerflow.text.tagging import label_types
from nerflow.training.amp import amp_name, resolve_amp
from nerflow.training.cache import (
    TensorCache,
    cache_features_fingerprint,
    check_cache,
    load_cache,
)
from nerflow.training.loop import Loop, LoopSettings
from nerflow.training.selection import SelectsBest

RESUME_INSENSITIVE = ("epochs", "max_minutes", "patience", "device")
"""``train`` settings that may change between an interrupted run and its resumption."""


def select_value(result: dict, metric: str) -> float:
    """The selection metric from a :func:`nerflow.evaluation.scoring.score` result."""
    if metric == "micro_f1":
        return float(result["micro"]["f1"])
    if metric in ("macro_f1", "clue_macro_f1"):
        return float(result[metric])
    raise ValueError(f"unknown select_metric {metric!r}; expected one of {SELECT_METRICS}")


def fingerprint(exp: ExperimentConfig, labels: Sequence[str], cache: TensorCache) -> str:
    """sha256 identifying what a checkpoint may be resumed into (see module docstring)."""
    cfg = json.loads(json.dumps(exp.to_dict(), sort_keys=True, default=str))
    for key in RESUME_INSENSITIVE:
        cfg["train"].pop(key)
    # settings of features added since the value was first pinned leave it as it was while off
    for key in switched_off_settings(exp.features):
        cfg["features"].pop(key)
    digest = hashlib.sha256()
    digest.update(json.dumps([cfg, list(labels), cache.to_dict()["meta"]], sort_keys=True).encode())
    for tensor in (*cache.input_ids, *cache.labels):
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def cache_nesting(cache: TensorCache) -> dict[str, int]:
    """:func:`nerflow.data.spans.nesting` of the gold spans a training cache carries (its token
    spans back on the characters, the consecutive windows of one record id joined)."""
    types = label_types(cache.meta.labels)
    rows = zip(cache.ids, cache.spans, cache.offsets, strict=True)
    records = []
    for _, windows in itertools.groupby(rows, key=lambda row: row[0]):
        spans = set()
        for _, token_spans, offsets in windows:
            chars = offsets.tolist()
            spans.update(
                Span(chars[first][0], chars[last][1] - 1, types[t])
                for first, last, t in token_spans.tolist()
            )
        records.append(sorted(spans))
    return nesting(records)


class TaggingTask(SelectsBest):
    """The loop's tagging task: a tagger on a tensor cache, selected by dev span score."""

    evaluate_every_epoch = False  # only when not evaluating every N steps
    finite_loss_required = False
    ema_shared = ("featurizer",)  # the lexicon of a featurizer is large; share it

    def __init__(
        self,
        exp: ExperimentConfig,
        cache: TensorCache,
        dev_records: Sequence[Record],
        tokenizer: Any,
        labels: Sequence[str],
        device: torch.device,
        stream: TextIO | None,
    ) -> None:
        self.exp, self.cache = exp, cache
        self.dev_records = list(dev_records)
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.types = label_types(self.labels)
        self.device, self.stream = device, stream
        self.metric = str(exp.train.select_metric)
        if self.metric not in SELECT_METRICS:
            raise ValueError(f"unknown select_metric {self.metric!r}; expected {SELECT_METRICS}")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.lengths = [len(ids) for ids in cache.input_ids]
        if not self.lengths:
            raise ValueError("empty training cache")
        torch.manual_seed(int(exp.train.seed))
        self.model: TaggerModel = build_model(exp, self.labels, tokenizer)
        if exp.encoder == BiLSTMEmitter.kind and exp.bilstm.char_vectors:
            vectors, found = packaged_char_vectors(exp.bilstm.char_vectors, tokenizer)
            rows = self.model.emitter.start_from_vectors(vectors, found)
            self.say(f"{rows} of {len(found)} character embeddings from {exp.bilstm.char_vectors}")
        for module in self.model.modules():
            if isinstance(module, FeatureInputs):
                for line in module.start():
                    self.say(line)
        self.model.to(device)
        featurizer = self.model.featurizer
        wanted = featurizer.fingerprint() if featurizer is not None else None
        if cache_features_fingerprint(cache) != wanted:
            raise ValueError(
                "the training cache was built with other input features than the experiment's"
                " (build it with build_cache(..., features=..., feature_dir=...) from the"
                " same feature assets)"
            )
        self.train_nesting = cache_nesting(cache)
        for line in self.model.head.fit_to_train(self.train_nesting):
            self.say(line)
        self.fingerprint = fingerprint(exp, self.labels, cache)
        self.start_selection(int(exp.train.patience))

    def say(self, message: str) -> None:
        if self.stream is not None:
            from tqdm import tqdm

            tqdm.write(f"[nerflow.train] {message}", file=self.stream)  # keeps the bar intact

    warn = say

    def param_groups(self) -> list[dict[str, Any]]:
        train = self.exp.train
        featurizer = self.model.featurizer
        return self.model.param_groups(
            float(train.lr),
            float(train.head_lr),
            float(train.weight_decay),
            featurizer.group_lrs() if featurizer is not None else {},
        )

    def loss(self, batch: list[int]) -> torch.Tensor:
        cache, device = self.cache, self.device
        rows = [cache.input_ids[i] for i in batch]
        input_ids, attention_mask = pad(rows, self.pad_id), padding_mask(rows)
        labels = pad([cache.labels[i] for i in batch], IGNORE_INDEX)
        features = {
            name: pad([per_record[i] for i in batch], 0, input_ids.size(1)).to(
                device, non_blocking=True
            )
            for name, per_record in cache.features.items()
        }
        spans = [cache.spans[i] for i in batch] if self.model.needs_spans else None
        loss, _ = self.model(
            input_ids.to(device, non_blocking=True),
            attention_mask.to(device, non_blocking=True),
            labels.to(device, non_blocking=True),
            spans=spans,
            **features,
        )
        assert loss is not None
        return loss

    def evaluate(self, loop: Loop) -> tuple[dict[str, Any], bool]:
        """Score the dev set, update the selection; stop when patience ran out."""
        p = loop.progress
        epoch = loop.current_epoch()
        evaluated, exp = loop.evaluated_model, self.exp
        predictions = predict_records(
            evaluated,
            self.tokenizer,
            self.dev_records,
            mode=exp.tokenization,
            max_len=int(exp.max_len),
            stride=int(exp.stride),
            scheme=exp.scheme,
            labels=self.labels,
            batch_size=2 * int(exp.train.batch_size),
            device=self.device,
        )
        result = score(self.dev_records, predictions, self.types)
        value = select_value(result, self.metric)
        improved = self.record(value, epoch, p.global_step, evaluated)
        own_lrs = {f"{name}_lr": loop.group_lr(name) for name in self.model.own_lr_parameters()}
        scores = {
            "dev_micro_f1": float(result["micro"]["f1"]),
            "dev_macro_f1": float(result["macro_f1"]),
            "dev_clue_macro_f1": float(result["clue_macro_f1"]),
        }
        rates = {key: rate for key, rate in own_lrs.items() if rate is not None}
        line = loop.log_line(scores, improved, **rates)
        self.say(
            f"epoch {epoch} step {p.global_step}: dev micro F1 {line['dev_micro_f1']:.4f}"
            f" ({self.metric} {value:.4f}{', best' if improved else ''})"
        )
        return line, self.patience_spent()

    def finish(self, loop: Loop, out_dir: Path) -> dict[str, Any]:
        """Save the best model to ``out_dir/"model"``; the run's summary."""
        p = loop.progress
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        summary = {
            **self.best_summary(),
            "select_metric": self.metric,
            "epochs_run": p.epoch,
            "steps": p.global_step,
            "train_minutes": round(loop.elapsed() / 60.0, 4),
            "sentences_per_s": p.total.rate(),
            "params": count_parameters(self.model),
            "stopped_early": p.stop_reason in ("patience", "time_budget"),
            "stop_reason": p.stop_reason,
            "device": str(self.device),
            "hardware": describe_hardware(self.device),
            "amp": amp_name(loop.amp_dtype),
            "peak_gpu_mib": peak_gpu_mib(self.device),
            "resumed_from": loop.resumed_from,
        }
        save_model(
            self.model,
            out_dir / "model",
            self.tokenizer,
            {
                "tokenization": self.exp.tokenization,
                "max_len": int(self.exp.max_len),
                "stride": int(self.exp.stride),
                "train_nesting": self.train_nesting,
                "training": summary,
            },
        )
        return summary


def train(
    experiment: ExperimentConfig | Mapping[str, Any],
    train_cache: TensorCache | str | Path,
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
    """Train a tagger on a cache (loaded or a path) and keep the best model by dev span score.

    ``experiment``: its settings (a mapping is read with the defaults of
    :class:`~nerflow.config.experiment.ExperimentConfig`). Input features: with a ``features`` block
    enabling any, the model loads its feature assets from ``feature_dir`` (default: the
    tokenizer's folder) and the cache must have been built from the same assets
    (``build_cache(..., features=..., feature_dir=...)``); the model folder then holds a
    copy of the assets.

    Writes ``out_dir/"model"`` (see :func:`nerflow.models.folder.save_model`) and ``log_path``
    (one JSON line per evaluation: epoch, step, loss, dev_micro_f1, dev_macro_f1,
    dev_clue_macro_f1, lr, head_lr, sentences_per_s, elapsed_s, best). ``checkpoint_dir``
    (default ``out_dir/"checkpoint"``) should be outside the workflow rule's outputs;
    it is removed after success unless ``keep_checkpoint``. ``progress_stream=None``
    silences the progress bar and messages.

    Returns ``{best_epoch, best_step, best_metric, select_metric, epochs_run, steps,
    train_minutes, sentences_per_s, params, stopped_early, stop_reason, device, amp,
    resumed_from}``.
    """
    exp = ExperimentConfig.coerce(experiment)
    cache = load_cache(train_cache) if isinstance(train_cache, str | Path) else train_cache
    check_cache(cache, tokenizer, labels, exp.scheme)
    meta = cache.meta
    if meta.mode != exp.tokenization or int(meta.max_len) != int(exp.max_len):
        raise ValueError(
            f"cache built for mode={meta.mode} max_len={meta.max_len}, experiment wants "
            f"mode={exp.tokenization} max_len={exp.max_len}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = Path(log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    settings = LoopSettings.from_config(exp.train)
    if not 0.0 <= settings.ema_decay < 1.0:
        raise ValueError(f"train.ema_decay must be in [0, 1), got {settings.ema_decay}")
    if settings.fgm_epsilon < 0:
        raise ValueError(f"train.fgm_epsilon must be >= 0, got {settings.fgm_epsilon}")
    device = resolve_device(exp.train.device)
    if device.type == "cpu":
        use_cpu_threads(threads)
    amp_dtype = resolve_amp(str(exp.train.amp), device)
    task = TaggingTask(exp, cache, dev_records, tokenizer, labels, device, progress_stream)
    checkpoints = Path(checkpoint_dir) if checkpoint_dir is not None else out / "checkpoint"
    loop = Loop(task, settings, device, amp_dtype, checkpoints, log, progress_stream)
    loop.resume()
    loop.run()
    summary = task.finish(loop, out)
    if not keep_checkpoint:
        shutil.rmtree(checkpoints, ignore_errors=True)
    return summary
