"""Inference throughput: nerflow's prediction versus the model's forward pass and
``transformers.pipeline``, and memory on a copied input.

Issue 10, item 2. On one model folder (``--model``, e.g. results/RUN/trained/model, or a
random-init softmax BERT of ``--layers`` x ``--hidden`` on the real bert-base-chinese
vocabulary when none is given, trained ``--train-steps`` first: a random model tags
nearly every character, which makes restoring spans far dearer than in use) and the same
CLUENER dev texts, in sentences per second (see ``bench/inference_paths.py``):

- ``forward``: the emitter's forward pass alone on the batches nerflow's prediction
  builds (recorded while it predicts): the limit;
- ``nerflow``: :meth:`nerflow.inference.predict.Predictor.predict` (windows, decoding, restoring
  spans on the original texts); its time over the forward pass is the overhead;
- ``pipeline batched``: ``pipeline("token-classification", aggregation_strategy="simple")``
  with ``batch_size`` 64; ``pipeline single``: one call per text (the first
  ``--single-limit`` texts);
- memory: peak RSS of the predict stage (:func:`nerflow.inference.predict.predict_file`) in a
  fresh process on the texts once and on ``--copies`` copies of them.

Median of ``--repeat`` runs for forward, nerflow and the batched pipeline. Targets:
overhead <= 25 %, >= 1.5x the batched pipeline, >= 3x one text at a time, flat memory.

    python bench/inference.py --train-steps 150 --single-limit 500 --threads 2
    python bench/inference.py --model results/scratch_transformer_softmax/model

Writes ``results/bench/inference.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
    median,
    quiet_transformers,
    ratio,
    run_measured,
    table,
    timed,
    write_result,
)
from inference_paths import (
    briefly_trained_folder,
    capture_batches,
    identical,
    pipeline_tagger,
    random_model_folder,
    time_forward,
    time_pipeline,
    time_predict,
    transformers_folder,
)
from training_loops import real_tokenizer

from nerflow.data.cluener import write_records
from nerflow.data.records import Record
from nerflow.inference.predict import Predictor
from nerflow.tensors import resolve_device

TARGETS = {"overhead": 0.25, "vs_pipeline_batched": 1.5, "vs_pipeline_single": 3.0}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a nerflow model folder (default: random-init BERT)")
    parser.add_argument("--records", default=str(DEV), help="CLUENER file whose texts to tag")
    parser.add_argument("--limit", type=int, help="only the first N records")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--single-limit", type=int, default=200, help="texts tagged one by one")
    parser.add_argument("--copies", type=int, default=16, help="copies for the memory check")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--vocab", default=str(VOCAB), help="vocab.txt folder (random model)")
    parser.add_argument("--layers", type=int, default=4, help="random model: layers")
    parser.add_argument("--hidden", type=int, default=256, help="random model: hidden size")
    parser.add_argument("--heads", type=int, default=4, help="random model: attention heads")
    parser.add_argument(
        "--train-steps", type=int, default=0, help="random model: train it so many steps first"
    )
    parser.add_argument("--train-data", default=str(TRAIN), help="CLUENER train file")
    parser.add_argument("--work", default=str(RESULTS / "inference_work"))
    parser.add_argument("--json-out", default=str(RESULTS / "inference.json"))
    parser.add_argument("--rss-child", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def rss_child(args: argparse.Namespace) -> int:
    """Child process: the predict stage on one file; prints its figures as JSON."""
    from nerflow.inference.predict import predict_file

    torch.set_num_threads(args.threads)
    seconds, count = timed(
        lambda: predict_file(args.model, *args.rss_child, args.batch_size, args.device),
        resolve_device(args.device),
    )
    print(
        json.dumps(
            {
                "records": count,
                "seconds": round(seconds, 3),
                "sentences_per_s": round(count / seconds, 1),
            }
        )
    )
    return 0


def memory(args: argparse.Namespace, records: list[Record], work: Path) -> dict[str, Any]:
    """Peak RSS of the predict stage on the records once and ``--copies`` times."""
    sizes: dict[str, Any] = {}
    for copies in (1, args.copies):
        source = work / f"texts_x{copies}.jsonl"
        write_records(
            source,
            (Record(f"{n}-{r.id}", r.text) for n in range(copies) for r in records),
        )
        command = [sys.executable, __file__, "--rss-child", str(source), str(work / "out.jsonl")]
        command += ["--model", args.model, "--threads", str(args.threads)]
        command += ["--batch-size", str(args.batch_size), "--device", args.device]
        # The child's own peak (a child forked from this process would start at its size).
        done = run_measured(command)
        if done["returncode"]:
            raise RuntimeError(f"predict child failed:\n{done['stderr'][-3000:]}")
        figures = json.loads(done["stdout"].strip().splitlines()[-1])
        sizes[f"x{copies}"] = {**figures, "peak_rss_mib": done["peak_rss_mib"]}
    once, many = sizes["x1"]["peak_rss_mib"], sizes[f"x{args.copies}"]["peak_rss_mib"]
    return {**sizes, "growth_mib": round(many - once, 1), "peak_ratio": ratio(many, once)}


def speeds(args: argparse.Namespace, records: list[Record], device: torch.device) -> dict[str, Any]:
    """Load, forward, nerflow and pipeline timings on ``records``."""
    load_s, predictor = timed(lambda: Predictor.load(args.model, device), device)
    batches = capture_batches(predictor, records, args.batch_size)  # also the warm-up
    forward, ours = [], []
    for _ in range(args.repeat):
        forward.append(time_forward(predictor, batches, device))
        seconds, predicted = time_predict(predictor, records, args.batch_size, device)
        ours.append(seconds)
    n = len(records)
    result: dict[str, Any] = {
        "load_s": round(load_s, 3),
        "batches": len(batches),
        "forward": {"seconds": round(median(forward), 3), "sentences_per_s": n / median(forward)},
        "nerflow": {"seconds": round(median(ours), 3), "sentences_per_s": n / median(ours)},
    }
    if not transformers_folder(args.model):
        result["pipeline"] = {"skipped": "not a transformers model folder (BiLSTM or span)"}
        return result
    tagger = pipeline_tagger(args.model, device)
    time_pipeline(tagger, records[:8], args.batch_size, device)  # warm-up
    batched = []
    for _ in range(args.repeat):
        seconds, theirs = time_pipeline(tagger, records, args.batch_size, device)
        batched.append(seconds)
    single = records[: args.single_limit]
    single_s, _ = time_pipeline(tagger, single, None, device)
    result["pipeline_batched"] = {
        "seconds": round(median(batched), 3),
        "sentences_per_s": n / median(batched),
    }
    result["pipeline_single"] = {
        "texts": len(single),
        "seconds": round(single_s, 3),
        "sentences_per_s": len(single) / single_s,
    }
    result["identical_records"] = identical(predicted, theirs)
    return result


def summary(result: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Ratios against the targets, and the table."""
    ours = result["nerflow"]["sentences_per_s"]
    measured = {
        "overhead": round(result["nerflow"]["seconds"] / result["forward"]["seconds"] - 1, 3)
    }
    for name in ("pipeline_batched", "pipeline_single"):
        measured[f"vs_{name}"] = ratio(ours, result.get(name, {}).get("sentences_per_s"))
    targets = {}
    for key, target in TARGETS.items():
        value = measured[key]
        met = None if value is None else value <= target if key == "overhead" else value >= target
        targets[key] = {"target": target, "measured": value, "met": met}
    rows = [
        [name, result[name]["seconds"], result[name]["sentences_per_s"]]
        for name in ("forward", "nerflow", "pipeline_batched", "pipeline_single")
        if name in result
    ]
    text = table(["path", "seconds", "sent/s"], rows)
    rows = [[key, t["measured"], t["target"], t["met"]] for key, t in targets.items()]
    memory_rows = [
        [f"peak RSS {name}", size["peak_rss_mib"], size["records"], size["sentences_per_s"]]
        for name, size in result["memory"].items()
        if isinstance(size, dict)
    ]
    text += "\n\n" + table(["ratio", "measured", "target", "met"], rows)
    text += "\n\n" + table(["memory", "MiB", "records", "sent/s"], memory_rows)
    return targets, text


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.rss_child:
        return rss_child(args)
    quiet_transformers()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    gold = load_split(args.records, "dev")[: args.limit]
    records = [Record(record.id, record.text) for record in gold]
    if not args.model:
        tokenizer = real_tokenizer(args.vocab, work / "tokenizer")
        shape = (args.layers, args.hidden, args.heads)
        if args.train_steps:
            train_records = load_split(args.train_data, "train")
            folder = briefly_trained_folder(
                tokenizer,
                train_records,
                gold[:64],
                work / "trained",
                shape,
                args.train_steps,
                device,
                args.threads,
            )
        else:
            folder = random_model_folder(tokenizer, gold, work / "random_model", *shape)
        args.model = str(folder)
    started = time.perf_counter()
    result = speeds(args, records, device)
    result["memory"] = memory(args, records, work)
    targets, text = summary(result)
    print(text)
    out = {
        "environment": environment(device, args.threads),
        "settings": vars(args),
        "records": len(records),
        **result,
        "targets": targets,
        "wall_s": round(time.perf_counter() - started, 1),
        "table": text,
    }
    print(f"written: {write_result(args.json_out, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
