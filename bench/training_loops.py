"""The training loops the throughput benchmarks compare, on one model and one set of sentences.

A :class:`Setup` holds an experiment (:class:`nerflow.config.experiment.ExperimentConfig`), its
tokenizer and labels, and the tensor cache of exactly ``steps * batch_size`` training
sequences (built with :func:`nerflow.training.cache.build_cache`, features included, as the
workflow builds it). Each loop trains a fresh model built by
:func:`nerflow.models.factory.build_model` from the same seed (so the same initial weights) on
those sequences for ``steps`` steps of ``batch_size``, with the same learning rates,
weight decay and gradient clipping:

- :func:`run_nerflow`: :func:`nerflow.training.train.train` itself, one epoch over the cache
  (its bucketed batches, collation, scheduler, EMA if the recipe has one); the figure is
  the loop's own ``sentences_per_s``, which excludes the dev evaluation and the saving
  done after the last step;
- :func:`run_static_pad`: a plain loop over shuffled (unsorted) batches padded to a fixed
  width, what the original scripts did;
- :func:`run_trainer`: ``transformers.Trainer`` on the model's own
  ``BertForTokenClassification`` with ``DataCollatorForTokenClassification`` and
  length-grouped sampling (transformer encoders with a softmax head only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml
from benchutil import ROOT, sync

from nerflow.config.experiment import ExperimentConfig, TrainConfig
from nerflow.config.scratch import ScratchConfig
from nerflow.data.records import Record, entity_types
from nerflow.features.featurizer import build_feature_assets
from nerflow.models.factory import build_model
from nerflow.models.tagger import count_parameters
from nerflow.tensors import IGNORE_INDEX, pad, padding_mask
from nerflow.text.tagging import label_list
from nerflow.text.vocab import build_char_vocab, load_tokenizer, save_char_tokenizer
from nerflow.training.cache import TensorCache, build_cache
from nerflow.training.train import train

OFFLINE = ROOT / "config" / "offline.yaml"
BILSTM_RECIPE = "bilstm_gaz_crf_s1"
BERT_TRAIN = TrainConfig(lr=5.0e-4, head_lr=5.0e-3)
"""Training settings of the BERT runs (those of the offline ``scratch_transformer_crf``;
batch size, warm-up, weight decay, clipping and seed are the defaults)."""


@dataclass
class Setup:
    """One model and the sentences every loop trains it on."""

    name: str
    exp: ExperimentConfig
    tokenizer: Any
    labels: list[str]
    cache: TensorCache
    dev: list[Record]
    work: Path

    @property
    def steps(self) -> int:
        return len(self.cache.input_ids) // self.batch_size

    @property
    def batch_size(self) -> int:
        return self.exp.train.batch_size

    @property
    def sentences(self) -> int:
        return len(self.cache.input_ids)

    def fresh_model(self, device: torch.device) -> torch.nn.Module:
        """The model :func:`nerflow.training.train.train` starts from (same seed, same weights)."""
        torch.manual_seed(self.exp.train.seed)
        return build_model(self.exp, self.labels, self.tokenizer).to(device)


def with_train(exp: ExperimentConfig, **settings: Any) -> ExperimentConfig:
    """``exp`` with the given ``train`` settings replaced."""
    return replace(exp, train=replace(exp.train, **settings))


def sample(records: list[Record], n: int, seed: int) -> list[Record]:
    """``n`` records drawn without replacement (all of them when fewer)."""
    chosen = list(records)
    random.Random(seed).shuffle(chosen)
    return chosen[:n]


def prepared(
    name: str,
    exp: ExperimentConfig,
    tokenizer: Any,
    train_records: list[Record],
    dev: list[Record],
    steps: int,
    work: Path,
) -> Setup:
    """A :class:`Setup` with the cache of ``steps`` batches of sampled train sequences."""
    batch_size = exp.train.batch_size
    labels = label_list(entity_types(train_records), exp.scheme)
    chosen = sample(train_records, steps * batch_size, exp.train.seed)
    cache = build_cache(
        chosen,
        tokenizer,
        exp.tokenization,
        exp.max_len,
        exp.scheme,
        labels,
        features=exp.features,
        feature_dir=exp.feature_dir,
        stride=exp.stride,
    )
    n = min(len(cache.input_ids), steps * batch_size) // batch_size * batch_size
    if n == 0:
        raise SystemExit(f"{name}: fewer than one batch of {batch_size} training sequences")
    if n < steps * batch_size:
        print(f"[bench] {name}: only {n // batch_size} steps of data", flush=True)
    return Setup(name, exp, tokenizer, labels, cache.take(n), dev, work)


def bilstm_setup(
    train_records: list[Record],
    dev: list[Record],
    steps: int,
    work: Path,
    batch_size: int | None = None,
    recipe: str = BILSTM_RECIPE,
) -> Setup:
    """The offline recipe's BiLSTM (``config/offline.yaml``) with its character tokenizer
    and feature assets built from all of train, as the workflow builds them."""
    block = yaml.safe_load(OFFLINE.read_text(encoding="utf-8"))["experiments"][recipe]
    exp = ExperimentConfig.from_dict(block, path=f"{OFFLINE.name}: experiments.{recipe}")
    folder = work / "bilstm_tokenizer"
    texts = [record.text for record in train_records]
    save_char_tokenizer(build_char_vocab(texts), folder)
    build_feature_assets(texts, exp.features, folder, train_records)
    exp = replace(exp, scheme="BIOS", feature_dir=str(folder))
    if batch_size:
        exp = with_train(exp, batch_size=batch_size)
    return prepared("bilstm", exp, load_tokenizer(folder), train_records, dev, steps, work)


def real_tokenizer(vocab_dir: str | Path, out: Path) -> Any:
    """The bert-base-chinese tokenizer of ``vocab_dir/vocab.txt`` (lower-casing), saved to
    ``out`` and loaded back as the workflow loads tokenizers."""
    from transformers import BertTokenizerFast

    BertTokenizerFast(
        vocab=str(Path(vocab_dir) / "vocab.txt"), do_lower_case=True, tokenize_chinese_chars=True
    ).save_pretrained(str(out))
    return load_tokenizer(out)


def bert_experiment(
    layers: int, hidden: int, heads: int, intermediate: int, head: str, max_len: int
) -> ExperimentConfig:
    """A random-init BERT experiment (``encoder: scratch``, dropout 0.1, characters,
    BIOS) of the given shape, windows sharing a quarter of ``max_len``."""
    return ExperimentConfig(
        encoder="scratch",
        scratch=ScratchConfig(layers=layers, hidden=hidden, heads=heads, intermediate=intermediate),
        head=head,
        max_len=max_len,
        stride=max_len // 4,
        train=BERT_TRAIN,
    )


def throughput(setup: Setup, seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "sentences": setup.sentences,
        "steps": setup.steps,
        "seconds": round(seconds, 3),
        "sentences_per_s": round(setup.sentences / seconds, 2) if seconds else None,
        **extra,
    }


def run_nerflow(
    setup: Setup, device: torch.device, amp: str, threads: int, keep: Path | None = None
) -> dict[str, Any]:
    """:func:`nerflow.training.train.train` for one epoch over the setup's cache; the model
    folder it saves is kept as ``keep/"model"`` when ``keep`` is given."""
    exp = with_train(
        setup.exp,
        epochs=1,
        patience=0,
        eval_every_steps=0,
        max_minutes=0,
        device=str(device),
        amp=amp,
    )
    with tempfile.TemporaryDirectory(dir=setup.work) as scratch:
        out = keep or Path(scratch)
        summary = train(
            exp,
            setup.cache,
            setup.dev,
            setup.tokenizer,
            setup.labels,
            out,
            out / "train_log.jsonl",
            threads=threads,
            progress_stream=None,
            checkpoint_dir=out / "checkpoint",
        )
    if summary["steps"] != setup.steps:
        raise RuntimeError(f"nerflow ran {summary['steps']} steps, expected {setup.steps}")
    seconds = setup.sentences / summary["sentences_per_s"]
    return throughput(setup, seconds, amp=summary["amp"], params=summary["params"])


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when asked (as :mod:`nerflow.training.train` does), else nothing."""
    if amp == "bf16" and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run_static_pad(
    setup: Setup, width: int, device: torch.device, amp: str, threads: int
) -> dict[str, Any]:
    """Shuffled batches, every one padded to ``width`` tokens; AdamW with the same groups,
    gradient clipping; no bucketing, scheduler or weight averaging."""
    torch.set_num_threads(threads)
    longest = max(len(ids) for ids in setup.cache.input_ids)
    if width < longest:
        raise SystemExit(f"--pad-to {width} is shorter than the longest sequence ({longest})")
    cfg = setup.exp.train
    model = setup.fresh_model(device)
    model.train()
    optimizer = torch.optim.AdamW(
        model.param_groups(cfg.lr, cfg.head_lr, cfg.weight_decay),
        fused=device.type == "cuda",
    )
    pad_id = setup.tokenizer.pad_token_id or 0
    order = list(range(setup.sentences))
    random.Random(cfg.seed).shuffle(order)
    cache, clip = setup.cache, cfg.grad_clip
    sync(device)
    start = time.perf_counter()
    for begin in range(0, len(order), setup.batch_size):
        batch = order[begin : begin + setup.batch_size]
        rows = [cache.input_ids[i] for i in batch]
        inputs = {
            name: pad([per_record[i] for i in batch], 0, width).to(device)
            for name, per_record in cache.features.items()
        }
        inputs["input_ids"] = pad(rows, pad_id, width).to(device)
        inputs["attention_mask"] = padding_mask(rows, width).to(device)
        inputs["labels"] = pad([cache.labels[i] for i in batch], IGNORE_INDEX, width).to(device)
        with autocast(device, amp):
            loss, _ = model(**inputs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())
    sync(device)
    return throughput(setup, time.perf_counter() - start, width=width)


def sampling_argument() -> dict[str, Any]:
    """Length-grouped sampling in this transformers version's spelling."""
    from transformers import TrainingArguments

    names = {field.name for field in dataclasses.fields(TrainingArguments)}
    if "train_sampling_strategy" in names:  # transformers >= 5.20 or so
        return {"train_sampling_strategy": "group_by_length"}
    return {"group_by_length": True}


def trainer_arguments(out: Path, batch_size: int, steps: int, train: Any, **extra: Any) -> Any:
    """``TrainingArguments`` of a timed ``Trainer`` run: ``steps`` steps of ``batch_size``
    at the learning rate, weight decay and clipping of ``train`` (a ``train`` block),
    length-grouped, no evaluation, saving, logging or bar; ``extra`` adds arguments."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=batch_size,
        max_steps=steps,
        learning_rate=train.lr,
        weight_decay=train.weight_decay,
        max_grad_norm=train.grad_clip,
        report_to=[],
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **sampling_argument(),
        **extra,
    )


def run_trainer(setup: Setup, device: torch.device, amp: str, threads: int) -> dict[str, Any]:
    """``transformers.Trainer`` for ``steps`` steps; the clock runs from ``on_train_begin``
    to ``on_train_end`` (data loading and collation included, model setup not)."""
    from transformers import (
        DataCollatorForTokenClassification,
        Trainer,
        TrainerCallback,
    )
    from transformers.trainer_callback import PrinterCallback

    class Clock(TrainerCallback):
        begin = end = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            sync(device)
            self.begin = time.perf_counter()

        def on_train_end(self, args, state, control, **kwargs):
            sync(device)
            self.end = time.perf_counter()

    torch.set_num_threads(threads)
    model = setup.fresh_model(device)
    if setup.exp.encoder == "bilstm" or setup.exp.head != "softmax":
        raise ValueError("the Trainer loop needs a transformers encoder with a softmax head")
    cfg = setup.exp.train
    data = [
        {"input_ids": ids.tolist(), "labels": labels.tolist()}
        for ids, labels in zip(setup.cache.input_ids, setup.cache.labels, strict=True)
    ]
    args = trainer_arguments(
        setup.work / "trainer",
        setup.batch_size,
        setup.steps,
        cfg,
        warmup_steps=int(round(cfg.warmup_ratio * setup.steps)),
        seed=cfg.seed,
        bf16=amp == "bf16" and device.type == "cuda",
        use_cpu=device.type == "cpu",
    )
    clock = Clock()
    trainer = Trainer(
        model=model.emitter.model,
        args=args,
        train_dataset=data,
        data_collator=DataCollatorForTokenClassification(setup.tokenizer),
        processing_class=setup.tokenizer,
        callbacks=[clock],
    )
    trainer.remove_callback(PrinterCallback)  # its metrics line would garble the table
    output = trainer.train()
    if output.global_step != setup.steps:
        raise RuntimeError(f"Trainer ran {output.global_step} steps, expected {setup.steps}")
    return throughput(
        setup,
        clock.end - clock.begin,
        trainer_samples_per_second=output.metrics.get("train_samples_per_second"),
        optim=getattr(args.optim, "value", str(args.optim)),
        params=count_parameters(model),
    )
