"""Training a classifier: the linear model in one fit, a neural one through the shared loop
(:class:`nerflow.training.loop.Loop`: AMP, EMA, early stopping on dev, resume after a
kill, a time budget), each window of a train text an example with the text's label."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from nerflow.atomic import atomic_model_folder
from nerflow.classification.examples import Example
from nerflow.classification.folder import ClassifierMeta, write_meta
from nerflow.classification.linear import LinearSettings, fit_linear
from nerflow.classification.neural import (
    EncodedText,
    PooledClassifier,
    encode_texts,
    text_scores,
    window_batch,
)
from nerflow.classification.scoring import score_labels
from nerflow.classification.sequence import SequenceClassifier
from nerflow.classification.settings import NeuralSettings
from nerflow.config.choices import from_scratch
from nerflow.features.featurizer import Featurizer, build_featurizer
from nerflow.features.spec import feature_spec, features_enabled
from nerflow.models.bilstm import BiLSTMEmitter
from nerflow.models.factory import build_emitter
from nerflow.provenance import describe_hardware
from nerflow.tensors import resolve_device, use_cpu_threads
from nerflow.text.vocab import build_char_vocab, load_tokenizer, save_char_tokenizer
from nerflow.training.amp import amp_name, resolve_amp
from nerflow.training.loop import Loop, LoopSettings
from nerflow.training.selection import SelectsBest
from nerflow.training.train import RESUME_INSENSITIVE


def train_linear(
    settings: LinearSettings,
    train: Sequence[Example],
    dev: Sequence[Example],
    labels: Sequence[str],
    out_dir: str | Path,
) -> dict[str, Any]:
    """Fit the linear model on train, score dev, write the model folder; the summary."""
    start = time.perf_counter()
    model = fit_linear([x.text for x in train], [str(x.label) for x in train], labels, settings)
    seconds = time.perf_counter() - start
    predicted = [labels[i] for i in model.probabilities([x.text for x in dev]).argmax(axis=1)]
    dev_scores = score_labels([str(x.label) for x in dev], predicted, labels)
    summary = {
        "train_minutes": round(seconds / 60.0, 4),
        "features": len(model.vocabulary),
        "dev_accuracy": dev_scores["accuracy"],
        "dev_macro_f1": dev_scores["macro_f1"],
        "stop_reason": "completed",
    }
    with atomic_model_folder(Path(out_dir)) as folder:
        model.save(folder)
        write_meta(
            folder, ClassifierMeta("linear", list(labels), settings.to_dict(), None, summary)
        )
    return summary


def classifier_tokenizer(settings: NeuralSettings, train_texts: Sequence[str], folder: Path) -> Any:
    """A character vocabulary of train for encoders trained from scratch, else the
    encoder's own tokenizer; saved into ``folder``."""
    if from_scratch(settings.encoder):
        return save_char_tokenizer(build_char_vocab(train_texts), folder)
    tokenizer = load_tokenizer(settings.encoder)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def build_classifier(
    settings: NeuralSettings, labels: Sequence[str], tokenizer: Any, featurizer: Featurizer | None
) -> PooledClassifier | SequenceClassifier:
    """A transformer-family encoder with ``cls`` pooling is a ``*ForSequenceClassification``
    model (:mod:`nerflow.classification.sequence`); anything else pools an emitter's token
    scores (:class:`~nerflow.classification.neural.PooledClassifier`)."""
    exp = settings.experiment()
    if settings.encoder != BiLSTMEmitter.kind and settings.pooling == "cls":
        if featurizer is not None:
            raise ValueError(
                "cls pooling of a transformer encoder is its sequence-classification head, "
                "which takes no input features: use mean or max pooling with features"
            )
        return SequenceClassifier.create(exp, labels, tokenizer)
    emitter = build_emitter(exp, labels, tokenizer, featurizer, plain_names=True)
    return PooledClassifier(emitter, labels, settings.pooling, featurizer)


class ClassifyingTask(SelectsBest):
    """The loop's classification task: windows of train texts, selected by dev score."""

    evaluate_every_epoch = False
    finite_loss_required = False
    ema_shared = ("featurizer",)

    def __init__(
        self,
        settings: NeuralSettings,
        train: Sequence[Example],
        dev: Sequence[Example],
        labels: Sequence[str],
        tokenizer: Any,
        featurizer: Featurizer | None,
        device: torch.device,
        stream: TextIO | None,
    ) -> None:
        self.settings, self.labels, self.tokenizer = settings, list(labels), tokenizer
        self.device, self.stream = device, stream
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        encode = self._encoder(featurizer)
        index = {label: i for i, label in enumerate(self.labels)}
        self.windows = [
            (tok, feats, index[str(example.label)])
            for example, text in zip(train, encode(train), strict=True)
            for tok, feats in zip(text.windows, text.features, strict=True)
        ]
        self.dev, self.dev_encoded = list(dev), encode(dev)
        self.lengths = [len(tok.input_ids) for tok, _, _ in self.windows]
        if not self.lengths:
            raise ValueError("no training examples")
        torch.manual_seed(int(settings.train.seed))
        self.model = build_classifier(settings, self.labels, tokenizer, featurizer)
        self.model.to(device)
        self.class_weight = self._class_weight(train)
        self.fingerprint = fingerprint(settings, self.labels, self.windows)
        self.start_selection(int(settings.train.patience))

    def _encoder(self, featurizer: Featurizer | None):
        s = self.settings

        def encode(examples: Sequence[Example]) -> list[EncodedText]:
            texts = [x.text for x in examples]
            return encode_texts(
                texts, self.tokenizer, featurizer, s.tokenization, s.max_len, s.stride
            )

        return encode

    def _class_weight(self, train: Sequence[Example]) -> torch.Tensor | None:
        if self.settings.train.class_weights == "none":
            return None
        counts = Counter(str(x.label) for x in train)
        total = sum(counts.values())
        weights = [total / (len(self.labels) * max(1, counts[label])) for label in self.labels]
        return torch.tensor(weights, dtype=torch.float32, device=self.device)

    def say(self, message: str) -> None:
        if self.stream is not None:
            print(f"[nerflow.classify] {message}", file=self.stream, flush=True)

    warn = say

    def param_groups(self) -> list[dict[str, Any]]:
        train = self.settings.train
        return self.model.param_groups(
            float(train.lr), float(train.head_lr), float(train.weight_decay)
        )

    def loss(self, batch: list[int]) -> torch.Tensor:
        rows = [(self.windows[i][0], self.windows[i][1]) for i in batch]
        input_ids, mask, features = window_batch(rows, self.pad_id, self.device)
        gold = torch.tensor([self.windows[i][2] for i in batch], device=self.device)
        scores = self.model(input_ids, mask, **features)
        return torch.nn.functional.cross_entropy(scores.float(), gold, weight=self.class_weight)

    def dev_scores(self, model: Any) -> dict[str, Any]:
        scores = text_scores(
            model,
            self.dev_encoded,
            self.pad_id,
            2 * int(self.settings.train.batch_size),
            self.device,
        )
        predicted = [self.labels[i] for i in scores.argmax(dim=1).tolist()]
        return score_labels([str(x.label) for x in self.dev], predicted, self.labels)

    def evaluate(self, loop: Loop) -> tuple[dict[str, Any], bool]:
        p = loop.progress
        epoch = loop.current_epoch()
        evaluated = loop.evaluated_model
        result = self.dev_scores(evaluated)
        metric = str(self.settings.train.select_metric)
        improved = self.record(float(result[metric]), epoch, p.global_step, evaluated)
        scores = {"dev_accuracy": result["accuracy"], "dev_macro_f1": result["macro_f1"]}
        line = loop.log_line(scores, improved)
        self.say(
            f"epoch {epoch} step {p.global_step}: dev accuracy {result['accuracy']:.4f}, "
            f"macro F1 {result['macro_f1']:.4f}{' (best)' if improved else ''}"
        )
        return line, self.patience_spent()


def fingerprint(settings: NeuralSettings, labels: Sequence[str], windows: Sequence[Any]) -> str:
    """sha256 of what a checkpoint may be resumed into: the settings (but those that may
    change between a killed run and its resumption), the labels and the train windows."""
    config = json.loads(json.dumps(settings.to_dict(), sort_keys=True, default=str))
    for key in RESUME_INSENSITIVE:
        config["train"].pop(key)
    digest = hashlib.sha256(json.dumps([config, list(labels)], sort_keys=True).encode())
    for tok, _, label in windows:
        digest.update(repr((tok.input_ids, label)).encode())
    return digest.hexdigest()


def train_neural(
    settings: NeuralSettings,
    train: Sequence[Example],
    dev: Sequence[Example],
    labels: Sequence[str],
    out_dir: str | Path,
    log_path: str | Path,
    checkpoint_dir: str | Path,
    threads: int = 1,
    stream: TextIO | None = sys.stderr,
) -> dict[str, Any]:
    """Train a pooled classifier, keep the best weights by dev score, write the model
    folder (emitter, tokenizer, feature assets, ``classifier.json``); the summary. A
    checkpoint in ``checkpoint_dir`` from a killed run of the same settings is resumed."""
    device = resolve_device(settings.train.device)
    if device.type == "cpu":
        use_cpu_threads(threads)
    work = Path(checkpoint_dir)
    work.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = work / "tokenizer"
    tokenizer = classifier_tokenizer(settings, [x.text for x in train], tokenizer_dir)
    featurizer = None
    spec = feature_spec(settings.features)
    if features_enabled(spec):
        featurizer = build_featurizer([x.text for x in train], spec)
    task = ClassifyingTask(settings, train, dev, labels, tokenizer, featurizer, device, stream)
    amp_dtype = resolve_amp(str(settings.train.amp), device)
    loop = Loop(
        task, LoopSettings.from_config(settings.train), device, amp_dtype, work, log_path, stream
    )
    loop.resume()
    loop.run()
    summary = finish(task, loop, out_dir)
    shutil.rmtree(work, ignore_errors=True)
    return summary


def finish(task: ClassifyingTask, loop: Loop, out_dir: str | Path) -> dict[str, Any]:
    """Write the best weights' model folder; the training summary."""
    p, model = loop.progress, task.model
    if task.best_state is not None:
        model.load_state_dict(task.best_state)
    summary = {
        **task.best_summary(),
        "select_metric": str(task.settings.train.select_metric),
        "epochs_run": p.epoch,
        "steps": p.global_step,
        "train_minutes": round(loop.elapsed() / 60.0, 4),
        "sentences_per_s": p.total.rate(),
        "params": sum(x.numel() for x in model.parameters()),
        "stop_reason": p.stop_reason,
        "device": str(task.device),
        "hardware": describe_hardware(task.device),
        "amp": amp_name(loop.amp_dtype),
        "resumed_from": loop.resumed_from,
        "train_windows": len(task.windows),
    }
    meta = ClassifierMeta("neural", task.labels, task.settings.to_dict(), model.kind, summary)
    with atomic_model_folder(Path(out_dir)) as folder:
        model.save(folder)
        task.tokenizer.save_pretrained(str(folder))
        write_meta(folder, meta)
    return summary
