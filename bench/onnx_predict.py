"""Prediction on CPU with an exported ONNX folder against the PyTorch folder it came from.

Issue 24. For each model folder (``--model``, repeatable; by default a random-init model of
the offline recipe's shape, ``bilstm_lac_span`` of config/offline.yaml: BiLSTM 2 x 256,
bigram/lexicon/gazetteer/LAC inputs, span head, its feature assets built from CLUENER
train), ``nerflow export`` writes the ONNX folder, then on the same CLUENER dev texts and
the same number of threads (``--threads``, torch's and onnxruntime's):

- ``pytorch`` / ``onnx``: :meth:`Predictor.predict` and :meth:`OnnxPredictor.predict`
  (windows, features, forward, decoding, spans on the original texts), sentences/s,
  median of ``--repeat`` runs; the spans must be identical;
- ``onnx forward``: onnxruntime's forward pass alone on the batches the ONNX path builds
  (its overhead is everything else: features, windows, decoding, restoring);
- ``nerflow predict``: the command line end to end in a fresh process (imports, loading,
  reading and writing files), wall time and peak RSS, the exported folder without torch.

Target: onnx >= 1.5x pytorch. Writes ``results/bench/onnx_predict.json`` and a table.

    python bench/onnx_predict.py --threads 2 --limit 600
    python bench/onnx_predict.py --model results/bilstm_lac_span/trained/model
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from benchutil import (
    DEV,
    RESULTS,
    ROOT,
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
from nerflow.export.onnx import export_onnx
from nerflow.inference.onnx_predictor import OnnxPredictor
from nerflow.inference.predict import Predictor

TARGET = 1.5
RECIPE = "bilstm_lac_span"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="model folder (repeatable)")
    parser.add_argument("--records", default=str(DEV), help="CLUENER file whose texts to tag")
    parser.add_argument("--train", default=str(TRAIN), help="CLUENER train (recipe's assets)")
    parser.add_argument("--limit", type=int, help="only the first N records")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default=str(RESULTS / "onnx_work"))
    parser.add_argument("--json-out", default=str(RESULTS / "onnx_predict.json"))
    return parser.parse_args(argv)


def recipe_folder(train_path: str, out: Path) -> Path:
    """A random-init model of the offline recipe's shape, saved like a trained one."""
    from nerflow.data.records import entity_types
    from nerflow.features.featurizer import build_featurizer
    from nerflow.models.factory import build_model
    from nerflow.models.folder import save_model
    from nerflow.text.tagging import label_list
    from nerflow.text.vocab import build_char_vocab, save_char_tokenizer

    config = yaml.safe_load((ROOT / "config" / "offline.yaml").read_text(encoding="utf-8"))
    experiment = dict(config["experiments"][RECIPE])
    experiment.pop("train", None)
    train = load_split(train_path, "train")
    texts = [record.text for record in train]
    tokenizer = save_char_tokenizer(build_char_vocab(texts), out / "tokenizer")
    featurizer = build_featurizer(texts, experiment["features"], train)
    torch.manual_seed(0)
    model = build_model(experiment, label_list(entity_types(train), "BIOS"), tokenizer, featurizer)
    meta = {
        "tokenization": "char",
        "max_len": experiment["max_len"],
        "stride": experiment["stride"],
    }
    return save_model(model.eval(), out / "model", tokenizer, meta)


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


def measure(folder: Path, records: list[Record], args: argparse.Namespace, work: Path) -> dict:
    exported = work / f"{folder.parent.name}_{folder.name}_onnx"
    start = time.perf_counter()
    report = export_onnx(folder, exported)
    export_s = time.perf_counter() - start
    theirs = Predictor.load(folder, "cpu")
    ours = OnnxPredictor.load(exported, threads=args.threads)
    theirs.predict(records[:64], args.batch_size)  # warm up both
    ours.predict(records[:64], args.batch_size)
    feeds = capture_feeds(ours, records, args.batch_size)
    runs: dict[str, list[float]] = {"pytorch": [], "onnx": [], "forward": []}
    outputs: dict[str, list[Record]] = {}
    for _ in range(args.repeat):  # interleaved: a busy machine slows all three alike
        for name, predictor in (("pytorch", theirs), ("onnx", ours)):
            start = time.perf_counter()
            outputs[name] = predictor.predict(records, args.batch_size)
            runs[name].append(time.perf_counter() - start)
        runs["forward"].append(time_forward(ours, feeds))
    pairs = zip(outputs["onnx"], outputs["pytorch"], strict=True)
    same = sum(a.spans == b.spans for a, b in pairs)
    forward = median(runs.pop("forward"))
    source = work / "texts.jsonl"
    write_records(source, (Record(r.id, r.text) for r in records))
    seconds = {name: median(values) for name, values in runs.items()}
    return {
        "model": str(folder),
        "export_s": round(export_s, 1),
        "max_abs_diff": report.max_abs_diff,
        "records": len(records),
        "identical_records": same,
        "sentences_per_s": {k: round(len(records) / v, 1) for k, v in seconds.items()},
        "onnx_forward_s": round(forward, 3),
        "onnx_overhead": round((seconds["onnx"] - forward) / forward, 3),
        "speedup": ratio(seconds["pytorch"], seconds["onnx"]),
        "cli": {
            "pytorch": cli_run(folder, source, work / "out_torch.jsonl", args.threads, False),
            "onnx": cli_run(exported, source, work / "out_onnx.jsonl", args.threads, True),
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    records = load_split(args.records, "dev")[: args.limit]
    folders = [Path(m) for m in args.model or []] or [recipe_folder(args.train, work / RECIPE)]
    results = [measure(folder, records, args, work) for folder in folders]
    rows = []
    for r in results:
        sps, cli = r["sentences_per_s"], r["cli"]
        rows.append(
            [
                r["model"][-48:],
                sps["pytorch"],
                sps["onnx"],
                f"{r['speedup']:.2f}x",
                f"{r['onnx_overhead']:.0%}",
                f"{r['identical_records']}/{r['records']}",
                f"{cli['pytorch']['wall_s']:.1f} s / {cli['pytorch']['peak_rss_mib']:.0f} MiB",
                f"{cli['onnx']['wall_s']:.1f} s / {cli['onnx']['peak_rss_mib']:.0f} MiB",
            ]
        )
    header = ["model", "pytorch sent/s", "onnx sent/s", "onnx/pytorch", "onnx overhead"]
    header += ["same spans", "CLI pytorch", "CLI onnx (no torch)"]
    print(table(header, rows))
    ok = all(r["speedup"] and r["speedup"] >= TARGET for r in results)
    print(f"target onnx >= {TARGET}x pytorch: {'met' if ok else 'NOT met'}")
    env = environment(torch.device("cpu"), args.threads)
    write_result(args.json_out, {"environment": env, "target": TARGET, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
