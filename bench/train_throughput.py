"""Training throughput: nerflow's loop versus static padding and ``transformers.Trainer``.

Issue 10, item 1. For each model, every loop trains the same architecture from the same
initial weights on the same ``steps * batch_size`` train sequences (the workflow's tensor
cache, features included), same batch size and learning rates, and the table gives
sentences (sequences) per second over those steps (see ``bench/training_loops.py``):

- ``bilstm``: the offline recipe's BiLSTM (``config/offline.yaml``, bilstm_gaz_crf_s1:
  bigram, lexicon, lexicon_words and gazetteer features, CRF head, EMA) -- nerflow's loop
  and the static-padding loop;
- ``bert``: a random-init BERT (``--layers`` x ``--hidden``) on the real bert-base-chinese
  vocabulary, softmax head -- nerflow's loop, the static-padding loop and ``Trainer``
  (``DataCollatorForTokenClassification``, length-grouped sampling; needs ``accelerate``).

Targets: nerflow >= 2.5x the loop padded to 128, >= 1.0x Trainer.

    python bench/train_throughput.py --model bilstm --steps 300 --threads 2
    python bench/train_throughput.py --model bert --steps 200 --threads 2

Writes ``results/bench/train_throughput.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import torch
from benchutil import (
    DEV,
    RESULTS,
    TRAIN,
    VOCAB,
    environment,
    load_split,
    quiet_transformers,
    ratio,
    skipped,
    write_result,
)
from benchutil import table as markdown
from training_loops import (
    Setup,
    bert_experiment,
    bilstm_setup,
    prepared,
    real_tokenizer,
    run_nerflow,
    run_static_pad,
    run_trainer,
    with_train,
)

from nerflow.tensors import resolve_device

TARGETS = {"vs_pad128": 2.5, "vs_trainer": 1.0}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("bilstm", "bert", "all"), default="all")
    parser.add_argument("--steps", type=int, default=100, help="training steps per loop")
    parser.add_argument("--batch-size", type=int, help="default: the recipe's (32)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4, help="BERT layers")
    parser.add_argument("--hidden", type=int, default=256, help="BERT hidden size")
    parser.add_argument("--heads", type=int, default=4, help="BERT attention heads")
    parser.add_argument("--intermediate", type=int, help="BERT feed-forward size (4 x hidden)")
    parser.add_argument("--max-len", type=int, default=128, help="BERT max_len")
    parser.add_argument("--pad-to", type=int, nargs="+", default=[128], help="static widths")
    parser.add_argument("--no-trainer", action="store_true", help="skip transformers.Trainer")
    parser.add_argument("--data", default=str(TRAIN), help="CLUENER train file")
    parser.add_argument("--dev", default=str(DEV), help="CLUENER dev file (final eval only)")
    parser.add_argument("--dev-records", type=int, default=64, help="dev records evaluated")
    parser.add_argument("--vocab", default=str(VOCAB), help="folder with the BERT vocab.txt")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--amp", choices=("off", "bf16"), default="off", help="CUDA only")
    parser.add_argument("--work", default=str(RESULTS / "train_throughput_work"))
    parser.add_argument("--json-out", default=str(RESULTS / "train_throughput.json"))
    return parser.parse_args(argv)


def measure(setup: Setup, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Every applicable loop on one setup, and nerflow's ratios to them."""
    print(f"[bench] {setup.name}: {setup.steps} steps of {setup.batch_size}", file=sys.stderr)
    warmup = dataclasses.replace(setup, cache=setup.cache.take(2 * setup.batch_size))
    run_static_pad(warmup, setup.exp.max_len, device, args.amp, args.threads)
    loops: dict[str, dict[str, Any]] = {}
    loops["nerflow"] = run_nerflow(setup, device, args.amp, args.threads)
    for width in args.pad_to:
        loops[f"pad{width}"] = run_static_pad(setup, width, device, args.amp, args.threads)
    if setup.exp.encoder != "bilstm" and not args.no_trainer:
        try:
            loops["trainer"] = run_trainer(setup, device, args.amp, args.threads)
        except ImportError as error:  # Trainer needs accelerate
            loops["trainer"] = skipped(error)
    ours = loops["nerflow"]["sentences_per_s"]
    ratios = {
        f"vs_{name}": ratio(ours, loop.get("sentences_per_s"))
        for name, loop in loops.items()
        if name != "nerflow"
    }
    targets = {
        key: {"target": value, "measured": ratios[key], "met": (ratios[key] or 0) >= value}
        for key, value in TARGETS.items()
        if key in ratios
    }
    return {
        "sentences": setup.sentences,
        "steps": setup.steps,
        "batch_size": setup.batch_size,
        "experiment": setup.exp.to_dict(),
        "loops": loops,
        "ratios": ratios,
        "targets": targets,
    }


def report(models: dict[str, dict[str, Any]]) -> str:
    rows = []
    for model, result in models.items():
        for name, loop in result["loops"].items():
            speed = result["ratios"].get(f"vs_{name}")
            target = TARGETS.get(f"vs_{name}")
            rows.append(
                [
                    model,
                    name,
                    loop.get("sentences"),
                    loop.get("seconds"),
                    loop.get("sentences_per_s"),
                    speed,
                    loop.get("skipped") or (f">= {target}" if target else None),
                ]
            )
    header = ["model", "loop", "sentences", "seconds", "sent/s", "nerflow x", "target / note"]
    return markdown(header, rows)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    quiet_transformers()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    train_records = load_split(args.data, "train")
    dev = load_split(args.dev, "dev")[: args.dev_records]
    models: dict[str, dict[str, Any]] = {}
    if args.model in ("bilstm", "all"):
        setup = bilstm_setup(train_records, dev, args.steps, work, args.batch_size)
        models["bilstm"] = measure(setup, args, device)
    if args.model in ("bert", "all"):
        exp = bert_experiment(
            args.layers,
            args.hidden,
            args.heads,
            args.intermediate or 4 * args.hidden,
            "softmax",
            args.max_len,
        )
        if args.batch_size:
            exp = with_train(exp, batch_size=args.batch_size)
        tokenizer = real_tokenizer(args.vocab, work / "bert_tokenizer")
        setup = prepared("bert", exp, tokenizer, train_records, dev, args.steps, work)
        models["bert"] = measure(setup, args, device)
    text = report(models)
    print(text)
    out = {"environment": environment(device, args.threads), "settings": vars(args)}
    print(f"written: {write_result(args.json_out, {**out, 'models': models, 'table': text})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
