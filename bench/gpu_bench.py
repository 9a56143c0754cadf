"""GPU measurements: fine-tuning and inference of a BERT-base-shaped tagger.

Issue 10, item 6; run by ``bench/gpu.sh`` (under 8 minutes on one H200 with the
defaults). A random-init BERT of ``--layers`` x ``--hidden`` (12 x 768) on the real
bert-base-chinese vocabulary, max_len 128, trained on the same ``--steps`` batches of
CLUENER train sequences (see ``bench/training_loops.py``):

- nerflow's loop (:func:`nerflow.training.train.train`) with a softmax and a CRF head, in bf16
  autocast and in fp32;
- ``transformers.Trainer`` (bf16) on the same softmax model;

sentences per second of the training steps and peak GPU memory
(``torch.cuda.max_memory_allocated``) of each case. Then inference on CLUENER dev with
the model each head's last run saved: the forward pass alone on nerflow's batches,
:meth:`nerflow.inference.predict.Predictor.predict`, and the batched pipeline (softmax head).

Without CUDA (or bf16) the bf16 cases are left out; ``--tiny`` (2 x 64 model, 3 steps of
8, 32 dev texts) checks the whole script on a CPU in seconds. Cases that need a missing
package (``pytorch-crf``, ``accelerate``) are reported as skipped.

    python bench/gpu_bench.py             # on the GPU machine, through bench/gpu.sh
    python bench/gpu_bench.py --tiny --device cpu

Writes ``results/bench/gpu.json`` (``--json-out``) and prints tables.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
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
    peak_mib,
    quiet_transformers,
    ratio,
    reset_peak,
    skipped,
    table,
    write_result,
)
from inference_paths import (
    capture_batches,
    pipeline_tagger,
    time_forward,
    time_pipeline,
    time_predict,
)
from training_loops import (
    bert_experiment,
    prepared,
    real_tokenizer,
    run_nerflow,
    run_trainer,
    with_train,
)

from nerflow.data.records import Record
from nerflow.inference.predict import Predictor
from nerflow.tensors import resolve_device

TINY = {
    "layers": 2,
    "hidden": 64,
    "heads": 2,
    "intermediate": 256,
    "steps": 3,
    "batch_size": 8,
    "max_len": 64,
    "dev_records": 8,
    "infer_records": 32,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="a CPU-sized check: " + str(TINY))
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12, help="attention heads")
    parser.add_argument("--intermediate", type=int, default=3072)
    parser.add_argument("--steps", type=int, default=150, help="training steps per case")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument("--tagger-heads", nargs="+", default=["softmax", "crf"])
    parser.add_argument("--precisions", nargs="+", default=["bf16", "fp32"])
    parser.add_argument("--no-trainer", action="store_true")
    parser.add_argument("--data", default=str(TRAIN), help="CLUENER train file")
    parser.add_argument("--dev", default=str(DEV), help="CLUENER dev file")
    parser.add_argument("--dev-records", type=int, default=64, help="evaluated after training")
    parser.add_argument("--infer-records", type=int, help="dev texts predicted (default all)")
    parser.add_argument("--vocab", default=str(VOCAB), help="folder with the BERT vocab.txt")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--work", default=str(RESULTS / "gpu_work"))
    parser.add_argument("--json-out", default=str(RESULTS / "gpu.json"))
    args = parser.parse_args(argv)
    if args.tiny:
        for key, value in TINY.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    return args


def precisions(wanted: list[str], device: torch.device) -> list[str]:
    """The precisions this device runs: bf16 needs CUDA with bf16 support."""
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return [p for p in wanted if p != "bf16" or bf16]


def amp(kind: str) -> str:
    """The ``train.amp`` setting of a precision."""
    return "bf16" if kind == "bf16" else "off"


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def case(run: Callable[[], dict[str, Any]], device: torch.device) -> dict[str, Any]:
    """One measured run with its peak GPU memory; skipped when a package is missing,
    ``failed`` (traceback on stderr) when it raised."""
    release(device)
    reset_peak(device)
    try:
        result = run()
    except ImportError as error:  # pytorch-crf or accelerate missing here
        return skipped(error)
    except Exception as error:  # one failed case must not lose the others
        traceback.print_exc()
        return {"failed": f"{type(error).__name__}: {error}"}
    result["peak_gpu_mib"] = peak_mib(device)
    release(device)
    return result


def warm_up(setup: Any, device: torch.device, kinds: list[str]) -> None:
    """A few untimed steps in each precision so that no case pays CUDA's start-up."""
    model = setup.fresh_model(device)
    ids = torch.randint(5, len(setup.tokenizer), (8, 48), device=device)
    mask = torch.ones_like(ids)
    labels = torch.zeros_like(ids)
    for kind in kinds:
        with torch.autocast(device.type, torch.bfloat16, enabled=kind == "bf16"):
            for _ in range(3):
                model(ids, mask, labels)[0].backward()
    del model
    release(device)


def inference(
    folder: Path, records: list[Record], batch_size: int, device: torch.device, pipeline: bool
) -> dict[str, Any]:
    """Forward alone, nerflow's prediction and (softmax) the batched pipeline, in fp32."""
    predictor = Predictor.load(folder, device)
    batches = capture_batches(predictor, records, batch_size)  # also the warm-up
    n = len(records)
    forward = time_forward(predictor, batches, device)
    reset_peak(device)
    ours, _ = time_predict(predictor, records, batch_size, device)
    result = {
        "records": n,
        "forward_sentences_per_s": round(n / forward, 1),
        "nerflow_sentences_per_s": round(n / ours, 1),
        "overhead": round(ours / forward - 1, 3),
        "predict_peak_gpu_mib": peak_mib(device),
    }
    if pipeline:
        tagger = pipeline_tagger(folder, device)
        time_pipeline(tagger, records[:batch_size], batch_size, device)
        seconds, _ = time_pipeline(tagger, records, batch_size, device)
        result["pipeline_batched_sentences_per_s"] = round(n / seconds, 1)
    del predictor
    release(device)
    return result


def report(training: dict[str, Any], predicting: dict[str, Any]) -> str:
    trainer = next((r for name, r in training.items() if name.startswith("trainer")), {})
    rows = [
        [
            name,
            result.get("sentences_per_s"),
            result.get("seconds"),
            result.get("peak_gpu_mib"),
            ratio(result.get("sentences_per_s"), trainer.get("sentences_per_s")),
            result.get("skipped") or result.get("failed"),
        ]
        for name, result in training.items()
    ]
    text = table(["training", "sent/s", "seconds", "peak GPU MiB", "vs Trainer", "note"], rows)
    rows = [
        [
            head,
            result.get("forward_sentences_per_s"),
            result.get("nerflow_sentences_per_s"),
            result.get("overhead"),
            result.get("pipeline_batched_sentences_per_s"),
            result.get("predict_peak_gpu_mib"),
        ]
        for head, result in predicting.items()
    ]
    header = ["inference", "forward sent/s", "nerflow sent/s", "overhead", "pipeline", "peak MiB"]
    return text + "\n\n" + table(header, rows)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    quiet_transformers()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    kinds = precisions(args.precisions, device)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    train_records = load_split(args.data, "train")
    dev_gold = load_split(args.dev, "dev")
    dev = dev_gold[: args.dev_records]
    texts = [Record(r.id, r.text) for r in dev_gold[: args.infer_records]]
    tokenizer = real_tokenizer(args.vocab, work / "tokenizer")
    shape = (args.layers, args.hidden, args.heads, args.intermediate)
    result: dict[str, Any] = {
        "environment": environment(device, args.threads),
        "settings": {**vars(args), "precisions_run": kinds},
        "training": {},
        "inference": {},
    }

    def save() -> Path:  # after every case, so that a timeout keeps what was measured
        result["wall_s"] = round(time.perf_counter() - started, 1)
        result["table"] = report(result["training"], result["inference"])
        return write_result(args.json_out, result)

    for head in args.tagger_heads:
        exp = with_train(bert_experiment(*shape, head, args.max_len), batch_size=args.batch_size)
        setup = prepared(head, exp, tokenizer, train_records, dev, args.steps, work)
        if not result["training"]:
            warm_up(setup, device, kinds)
        folder = work / head
        shutil.rmtree(folder, ignore_errors=True)
        runs = {
            f"nerflow {head} {kind}": partial(
                run_nerflow, setup, device, amp(kind), args.threads, keep=folder
            )
            for kind in kinds
        }
        if head == "softmax" and not args.no_trainer:
            runs[f"trainer {head} {kinds[0]}"] = partial(
                run_trainer, setup, device, amp(kinds[0]), args.threads
            )
        for name, run in runs.items():
            print(f"[bench] {name}", file=sys.stderr, flush=True)
            result["training"][name] = case(run, device)
            save()
        if (folder / "model").is_dir():
            run = partial(inference, folder / "model", texts, 64, device, head == "softmax")
            result["inference"][head] = case(run, device)
            save()
    print(result["table"] if "table" in result else "nothing measured")
    print(f"written: {save()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
