"""Prediction on CPU with an exported ONNX folder against the PyTorch folder it came from.

Issue 24. For each model folder (``--model``, repeatable) and each offline experiment
(``--recipe``, repeatable, default ``bilstm_lac_span`` of config/offline.yaml: BiLSTM 2 x
256, bigram/lexicon/gazetteer/LAC inputs, span head; trained ``--train-steps`` steps on
CLUENER train with nerflow's loop, so that it tags like a model in use: a random span head
scores half of all cells positive, and decoding them would dominate every figure),
``nerflow export`` writes two ONNX folders, float32 and ``--quantize int8``, then on the
same CLUENER dev texts and the same number of threads (``--threads``, torch's and
onnxruntime's):

- ``pytorch`` / ``onnx`` / ``int8``: :meth:`Predictor.predict` and
  :meth:`OnnxPredictor.predict` (windows, features, forward, decoding, spans on the
  original texts), sentences/s, median of ``--repeat`` interleaved runs; the float32
  folder's spans must be identical to PyTorch's; dev micro F1 of the three;
- ``forward``: onnxruntime's forward pass alone on the batches each ONNX folder builds
  (the overhead is everything else: features, windows, decoding, restoring);
- ``nerflow predict``: the command line end to end in a fresh process (imports, loading,
  reading and writing files), wall time and peak RSS, the exported folders without torch.

Target: onnx >= 1.5x pytorch. Writes ``results/bench/onnx_predict.json`` and a table.

    python bench/onnx_predict.py --threads 2 \
        --recipe bilstm_lac_span --recipe scratch_transformer_crf
    python bench/onnx_predict.py --model results/bilstm_lac_span/trained/model
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch
from benchutil import (
    DEV,
    RESULTS,
    TRAIN,
    environment,
    load_split,
    median,
    ratio,
    run_measured,
    table,
    write_result,
)

from nerflow.data.cluener import write_records
from nerflow.data.records import Record
from nerflow.evaluation.scoring import score
from nerflow.export.onnx import export_onnx
from nerflow.inference.onnx_predictor import OnnxPredictor
from nerflow.inference.predict import Predictor

TARGET = 1.5


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], help="model folder")
    parser.add_argument("--recipe", action="append", help="offline experiment (repeatable)")
    parser.add_argument("--records", default=str(DEV), help="CLUENER file whose texts to tag")
    parser.add_argument("--train", default=str(TRAIN), help="CLUENER train (recipe's assets)")
    parser.add_argument("--limit", type=int, help="only the first N records")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train-steps", type=int, default=300, help="recipe models: steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default=str(RESULTS / "onnx_work"))
    parser.add_argument("--json-out", default=str(RESULTS / "onnx_predict.json"))
    return parser.parse_args(argv)


def recipe_folder(recipe: str, args: argparse.Namespace, out: Path) -> Path:
    """The offline recipe's model after ``--train-steps`` steps of nerflow's loop (its
    character tokenizer and feature assets built from all of train, as the workflow does)."""
    from training_loops import bilstm_setup, run_nerflow

    if (out / "model" / "nerflow_head.json").is_file():
        return out / "model"  # trained by an earlier run with the same --work
    train = load_split(args.train, "train")
    out.mkdir(parents=True, exist_ok=True)
    setup = bilstm_setup(train, [], args.train_steps, out, recipe=recipe)
    run_nerflow(setup, torch.device("cpu"), "off", args.threads, keep=out)
    return out / "model"


def capture_feeds(predictor: OnnxPredictor, records: list[Record], batch_size: int) -> list:
    """The graph inputs of every batch ``predictor`` runs while it predicts ``records``."""
    feeds: list[dict] = []
    original = predictor.scores

    def capture(batch: dict) -> Any:
        feeds.append(batch)
        return original(batch)

    predictor.scores = capture  # type: ignore[method-assign]
    try:
        predictor.predict(records, batch_size)
    finally:
        del predictor.scores
    return feeds


def time_forward(predictor: OnnxPredictor, feeds: list) -> float:
    """Seconds of onnxruntime's forward pass alone over ``feeds``."""
    start = time.perf_counter()
    for batch in feeds:
        predictor.scores(batch)
    return time.perf_counter() - start


def cli_run(folder: Path, source: Path, out: Path, threads: int, no_torch: bool) -> dict:
    """``nerflow predict`` in a fresh process: wall time and peak RSS."""
    command = [sys.executable, "-m", "nerflow", "predict", str(folder), str(source)]
    command += ["-o", str(out), "--threads", str(threads), "-q"]
    if no_torch:  # the process must not even find torch
        command[1:3] = ["-c", NO_TORCH_MAIN]
    done = run_measured(command)
    if done["returncode"]:
        raise RuntimeError(f"nerflow predict failed:\n{done['stderr'][-2000:]}")
    return {"wall_s": done["wall_s"], "peak_rss_mib": done["peak_rss_mib"]}


NO_TORCH_MAIN = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(name)
sys.meta_path.insert(0, Refuse())
from nerflow.cli import main
sys.exit(main(sys.argv[1:]))
"""


KINDS = ("pytorch", "onnx", "int8")


def measure(folder: Path, records: list[Record], args: argparse.Namespace, work: Path) -> dict:
    stem = work / "_".join(folder.parts[-3:])  # results/RUN/trained/model: RUN_trained_model
    exported = {"onnx": Path(f"{stem}_onnx"), "int8": Path(f"{stem}_int8")}
    reports = {}
    for kind, out in exported.items():
        start = time.perf_counter()
        report = export_onnx(folder, out, quantization="int8" if kind == "int8" else None)
        reports[kind] = {"export_s": round(time.perf_counter() - start, 1)}
        reports[kind] |= {"max_abs_diff": report.max_abs_diff, "scale": report.scale}
    predictors: dict[str, Any] = {"pytorch": Predictor.load(folder, "cpu")}
    for kind, out in exported.items():
        predictors[kind] = OnnxPredictor.load(out, threads=args.threads)
    for predictor in predictors.values():  # warm up
        predictor.predict(records[:64], args.batch_size)
    feeds = {kind: capture_feeds(predictors[kind], records, args.batch_size) for kind in exported}
    runs: dict[str, list[float]] = {name: [] for name in [*KINDS, "onnx_forward", "int8_forward"]}
    outputs: dict[str, list[Record]] = {}
    for _ in range(args.repeat):  # interleaved: a busy machine slows all of them alike
        for name, predictor in predictors.items():
            start = time.perf_counter()
            outputs[name] = predictor.predict(records, args.batch_size)
            runs[name].append(time.perf_counter() - start)
        for kind in exported:
            runs[f"{kind}_forward"].append(time_forward(predictors[kind], feeds[kind]))
    seconds = {name: median(values) for name, values in runs.items()}
    types = sorted({span.label for record in records for span in record.spans})
    theirs = outputs["pytorch"]
    source = work / "texts.jsonl"
    write_records(source, (Record(r.id, r.text) for r in records))
    cli = {"pytorch": cli_run(folder, source, work / "out_torch.jsonl", args.threads, False)}
    for kind, out in exported.items():
        cli[kind] = cli_run(out, source, work / f"out_{kind}.jsonl", args.threads, True)
    return {
        "model": str(folder),
        "exports": reports,
        "records": len(records),
        "identical_records": {
            kind: sum(a.spans == b.spans for a, b in zip(outputs[kind], theirs, strict=True))
            for kind in exported
        },
        "dev_micro_f1": {
            name: round(score(records, outputs[name], types)["micro"]["f1"], 4) for name in KINDS
        },
        "sentences_per_s": {k: round(len(records) / seconds[k], 1) for k in KINDS},
        "forward_s": {kind: round(seconds[f"{kind}_forward"], 3) for kind in exported},
        "overhead": {
            kind: round(seconds[kind] / seconds[f"{kind}_forward"] - 1.0, 3) for kind in exported
        },
        "speedup": {kind: ratio(seconds["pytorch"], seconds[kind]) for kind in exported},
        "cli": cli,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    records = load_split(args.records, "dev")[: args.limit]
    recipes = args.recipe or ([] if args.model else ["bilstm_lac_span"])
    folders = [Path(m) for m in args.model]
    folders += [recipe_folder(name, args, work / name) for name in recipes]
    results = [measure(folder, records, args, work) for folder in folders]
    rows = []
    for r in results:
        sps, f1, runs = r["sentences_per_s"], r["dev_micro_f1"], r["cli"].values()
        rows.append(
            [
                r["model"][-48:],
                sps["pytorch"],
                f"{sps['onnx']} ({r['speedup']['onnx']:.2f}x)",
                f"{sps['int8']} ({r['speedup']['int8']:.2f}x)",
                f"{r['overhead']['onnx']:.0%} / {r['overhead']['int8']:.0%}",
                f"{r['identical_records']['onnx']} / {r['identical_records']['int8']}"
                f" of {r['records']}",
                f"{f1['pytorch']:.4f} / {f1['onnx']:.4f} / {f1['int8']:.4f}",
                " / ".join(f"{c['wall_s']:.1f} s {c['peak_rss_mib']:.0f} MiB" for c in runs),
            ]
        )
    header = ["model", "pytorch sent/s", "onnx sent/s", "int8 sent/s"]
    header += ["overhead onnx / int8", "same spans onnx / int8", "dev F1 pt / onnx / int8"]
    header += ["CLI pytorch / onnx / int8 (no torch)"]
    print(table(header, rows))
    for kind in ("onnx", "int8"):
        ok = all(r["speedup"][kind] and r["speedup"][kind] >= TARGET for r in results)
        print(f"target {kind} >= {TARGET}x pytorch in process: {'met' if ok else 'NOT met'}")
    env = environment(torch.device("cpu"), args.threads)
    write_result(args.json_out, {"environment": env, "target": TARGET, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
