"""What a trained model folder gives through ``transformers.pipeline`` versus ``nerflow``.

Loads one model folder twice: with ``pipeline("token-classification",
aggregation_strategy="simple")`` (what a transformers user runs) and with
:class:`nerflow.inference.predict.Predictor` (what ``nerflow predict`` and the workflow run), tags
the same validated records, and scores both against their gold labels with the
workflow's scorer. Prints a table and writes ``results/bench/pipeline_parity.json``.

    python bench/pipeline_parity.py results/scratch_transformer_crf/model \\
        results/data/dev.jsonl --threads 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from inference_paths import as_records

from nerflow.data.cluener import read_records
from nerflow.data.records import Record
from nerflow.evaluation.scoring import score
from nerflow.inference.predict import Predictor
from nerflow.jsonio import write_json
from nerflow.models.meta import read_model_meta


def pipeline_records(model_dir: str, records: list[Record], batch_size: int) -> list[Record]:
    from transformers import pipeline

    tagger = pipeline(
        "token-classification", model=model_dir, aggregation_strategy="simple", device="cpu"
    )
    outputs = tagger([record.text for record in records], batch_size=batch_size)
    return as_records(records, outputs)


def with_raw_names(model_dir: str, scratch: Path) -> str:
    """A copy of the folder whose config names every id by its raw tag (``S-X``, ``E-X``):
    what folders exported before the pipeline names held."""
    import shutil

    folder = scratch / "raw_names"
    shutil.copytree(model_dir, folder)
    labels = read_model_meta(folder).labels
    config = json.loads((folder / "config.json").read_text("utf-8"))
    config["id2label"] = dict(enumerate(labels))
    (folder / "config.json").write_text(json.dumps(config), "utf-8")
    return str(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a trained transformers model folder (softmax or CRF)")
    parser.add_argument("records", help="validated JSON lines with gold labels")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="results/bench/pipeline_parity.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gold = read_records(args.records)
    types = sorted({span.label for record in gold for span in record.spans})
    inputs = [Record(record.id, record.text) for record in gold]
    results = {}
    start = time.perf_counter()
    ours = Predictor.load(args.model, "cpu").predict(inputs, args.batch_size)
    results["nerflow"] = (ours, time.perf_counter() - start)
    start = time.perf_counter()
    theirs = pipeline_records(args.model, inputs, args.batch_size)
    results["pipeline"] = (theirs, time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        raw = pipeline_records(with_raw_names(args.model, Path(scratch)), inputs, args.batch_size)
        results["pipeline, raw S-/E- names"] = (raw, time.perf_counter() - start)
    same = sum(a.spans == b.spans for a, b in zip(ours, theirs, strict=True))
    table = {}
    print(f"{'path':<28} {'entities':>8} {'micro F1':>9} {'sent/s':>8}")
    for name, (predicted, seconds) in results.items():
        scores = score(gold, predicted, types)
        table[name] = {
            "entities": sum(len(record.spans) for record in predicted),
            "micro_f1": scores["micro"]["f1"],
            "seconds": round(seconds, 3),
            "sentences_per_s": round(len(gold) / seconds, 1),
        }
        row = table[name]
        print(
            f"{name:<28} {row['entities']:>8} {row['micro_f1']:>9.4f} {row['sentences_per_s']:>8}"
        )
    print(f"records with identical spans (nerflow vs pipeline): {same} of {len(gold)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(
        out,
        {
            "model": args.model,
            "records": args.records,
            "n_records": len(gold),
            "gold_entities": sum(len(record.spans) for record in gold),
            "identical_records": same,
            "paths": table,
        },
    )


if __name__ == "__main__":
    main()
