"""Sentence classification speed: nerflow against ``transformers.Trainer`` (training) and
``pipeline("text-classification")`` (inference), on the same small random-init BERT.

Issue 26. The model is a ``BertForSequenceClassification`` (``--layers`` x ``--hidden``)
on the real bert-base-chinese vocabulary, the data ChnSentiCorp's train and dev reviews.

- Training: the same first ``--steps * --batch-size`` train texts, cut to ``--max-len``
  tokens (the pipeline and ``Trainer`` cut; nerflow reads the rest in windows, so it is
  given texts that fit), the same initial weights, batch size and learning rate; nerflow's
  loop (length-bucketed batches) against ``Trainer`` (``DataCollatorWithPadding``,
  length-grouped sampling; needs ``accelerate``). Sentences per second.
- Inference: the dev reviews; nerflow's prediction (windows of ``--max-len``, sorted by
  length, batched) against the pipeline batched (``batch_size`` the same, truncation at
  ``--max-len``). Sentences per second, and whether the labels agree on texts that fit.

Targets: training >= 1.0x Trainer; inference >= 1.5x the batched pipeline.

    python bench/classification_speed.py --steps 60 --threads 2

Writes ``results/bench/classification_speed.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from benchutil import RESULTS, SHARED, VOCAB, environment, quiet_transformers, ratio, write_result
from benchutil import table as markdown
from training_loops import real_tokenizer, trainer_arguments

from nerflow.classification.examples import Example
from nerflow.classification.predict import load_classifier, predict_examples
from nerflow.classification.settings import NeuralSettings
from nerflow.classification.training import ClassifyingTask, finish
from nerflow.training.loop import Loop, LoopSettings

DATA = SHARED / "data" / "chnsenticorp"
TARGETS = {"train_vs_trainer": 1.0, "predict_vs_pipeline": 1.5}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--vocab", type=Path, default=VOCAB)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json-out", type=Path, default=RESULTS / "classification_speed.json")
    return parser.parse_args(argv)


def read(path: Path) -> list[Example]:
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [Example(i, text, label) for i, (label, text) in enumerate(rows)]


def settings(args: argparse.Namespace) -> NeuralSettings:
    return NeuralSettings.from_dict(
        {
            "encoder": "scratch",  # a random-init BERT on the vocabulary of --vocab
            "pooling": "cls",
            "max_len": args.max_len,
            "stride": args.max_len // 4,
            "scratch": {
                "layers": args.layers,
                "hidden": args.hidden,
                "heads": 4,
                "intermediate": 4 * args.hidden,
            },
            "train": {
                "epochs": 1,
                "batch_size": args.batch_size,
                "lr": 1e-4,
                "head_lr": 1e-4,
                "warmup_ratio": 0.1,
                "patience": 0,
                "device": "cpu",
                "amp": "off",
            },
        }
    )


def fitting(examples: list[Example], tokenizer: Any, max_len: int) -> list[Example]:
    """The examples whose text fits one window (so that every loop sees the same tokens)."""
    lengths = tokenizer([x.text for x in examples], add_special_tokens=True)["input_ids"]
    return [x for x, ids in zip(examples, lengths, strict=True) if len(ids) <= max_len]


def train_nerflow(s: NeuralSettings, task: ClassifyingTask, out: Path) -> float:
    loop = Loop(task, LoopSettings.from_config(s.train), torch.device("cpu"), None, out / "w")
    start = time.perf_counter()
    loop.run()
    seconds = time.perf_counter() - start
    finish(task, loop, out / "model")
    return seconds


def train_trainer(
    task: ClassifyingTask, train: list[Example], s: NeuralSettings, work: Path
) -> float:
    from transformers import DataCollatorWithPadding, Trainer

    index = {label: i for i, label in enumerate(task.labels)}
    encoded = task.tokenizer([x.text for x in train], truncation=True, max_length=s.max_len)
    data = [
        {"input_ids": ids, "labels": index[x.label]}
        for ids, x in zip(encoded["input_ids"], train, strict=True)
    ]
    batch = s.train.batch_size
    args = trainer_arguments(work / "trainer", batch, len(data) // batch, s.train, use_cpu=True)
    trainer = Trainer(
        model=task.model.model,
        args=args,
        train_dataset=data,
        data_collator=DataCollatorWithPadding(task.tokenizer),
    )
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    quiet_transformers()
    torch.set_num_threads(args.threads)
    scratch_dir = Path(tempfile.mkdtemp())
    tokenizer = real_tokenizer(args.vocab, scratch_dir / "tokenizer")
    s = settings(args)
    train = fitting(read(args.data / "train.tsv"), tokenizer, args.max_len)
    train = train[: args.steps * args.batch_size]
    dev = read(args.data / "dev.tsv")
    labels = sorted({x.label for x in train})
    with tempfile.TemporaryDirectory(dir=scratch_dir) as scratch:
        work = Path(scratch)

        def task() -> ClassifyingTask:
            return ClassifyingTask(
                s, train, dev[:64], labels, tokenizer, None, torch.device("cpu"), None
            )

        ours = train_nerflow(s, task(), work)
        try:
            theirs: float | None = train_trainer(task(), train, s, work)
        except ImportError as error:  # Trainer needs accelerate (the bench extra)
            theirs, trainer_skipped = None, str(error)
        folder = work / "model"
        classifier = load_classifier(folder, "cpu")
        start = time.perf_counter()
        predicted = predict_examples([classifier], dev, batch_size=args.batch_size)
        predict_s = time.perf_counter() - start
        from transformers import pipeline

        classify = pipeline("text-classification", model=str(folder), device="cpu")
        start = time.perf_counter()
        piped = classify(
            [x.text for x in dev],
            batch_size=args.batch_size,
            truncation=True,
            max_length=args.max_len,
        )
        pipeline_s = time.perf_counter() - start
    fits = {x.id for x in fitting(dev, tokenizer, args.max_len)}
    agree = [
        p["label"] == q["label"]
        for p, q, x in zip(predicted, piped, dev, strict=True)
        if x.id in fits
    ]
    result = {
        "environment": environment(torch.device("cpu"), args.threads),
        "settings": vars(args)
        | {"data": str(args.data), "vocab": str(args.vocab), "json_out": str(args.json_out)},
        "train": {
            "sentences": len(train),
            "nerflow_per_s": len(train) / ours,
            "trainer_per_s": len(train) / theirs if theirs else None,
            "ratio": ratio(theirs, ours),
            **({"skipped": trainer_skipped} if theirs is None else {}),
        },
        "predict": {
            "sentences": len(dev),
            "nerflow_per_s": len(dev) / predict_s,
            "pipeline_per_s": len(dev) / pipeline_s,
            "ratio": ratio(pipeline_s, predict_s),
            "labels_agree_on_texts_that_fit": f"{sum(agree)}/{len(agree)}",
        },
        "targets": TARGETS,
    }
    write_result(args.json_out, result)

    def row(name: str, part: dict, theirs: str, target: float) -> list[str]:
        shown = f"{part[theirs]:.1f}" if part[theirs] else "skipped"
        speedup = f"{part['ratio']:.2f}x" if part["ratio"] else "n/a"
        return [name, f"{part['nerflow_per_s']:.1f}", shown, speedup, f">= {target}x"]

    rows = [
        row("training", result["train"], "trainer_per_s", TARGETS["train_vs_trainer"]),
        row("inference", result["predict"], "pipeline_per_s", TARGETS["predict_vs_pipeline"]),
    ]
    print(markdown(["", "nerflow sent/s", "Trainer / pipeline sent/s", "ratio", "target"], rows))
    print(
        f"labels agree on dev texts that fit: {result['predict']['labels_agree_on_texts_that_fit']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
