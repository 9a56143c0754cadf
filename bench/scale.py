"""Scale: time and peak memory of the data stages, training and prediction on 1x, 4x, 16x train.

Issue 10, item 5. The train split of ``--data`` is repeated ``--scales`` times (ids, if
any, made unique) and each stage runs on it as the workflow's stage runs it, with the
package functions its script calls, each in a fresh process:

- ``validate``: :func:`nerflow.data.validate.validate_file` (rejected lines and records
  written), as ``validate_split``;
- ``tagging``: character tags (:func:`nerflow.text.tagging.spans_to_tags`, ``write_tag_file``),
  as ``char_tags``;
- ``tokenizer``: the character vocabulary and feature assets (bigrams, jieba lexicon,
  SoftLexicon words, out-of-fold gazetteer) of the offline recipe, as ``tokenizer``;
- ``cache``: :func:`nerflow.training.cache.build_cache` with the recipe's features, saved, as
  ``tensor_cache``;
- ``train``: one epoch of :func:`nerflow.training.train.train` on the offline recipe
  ``bilstm_gaz_crf_s1`` (``config/offline.yaml``; no time limit, on CPU), its dev
  evaluation on ``--data``'s dev included;
- ``predict``: :func:`nerflow.inference.predict.predict_file` over the scaled texts.

A stage needs the ones before it (``--stages`` runs those too). Seconds are the stage's
work, imports excluded; peak RSS is that of the stage's process (``wait4``), the
imports included (``rss before`` is the process after its imports). The slope is the
exponent of a power law fitted to seconds against scale: 1.0 is linear. Target: every
stage linear, and under 24 GiB of memory at 16x.

    python bench/scale.py --scales 1 4 16 --threads 2

The children import only what their stage needs, so that a stage's memory is its own
(torch alone is 200 MiB): this module imports nothing heavy at its top.

Writes ``results/bench/scale.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = ROOT / "config" / "offline.yaml"
RECIPE = "bilstm_gaz_crf_s1"
SCHEME = "BIOS"
LIMIT_GIB = 24
# Each stage and the stages whose outputs it reads.
NEEDS = {
    "validate": [],
    "tagging": ["validate"],
    "tokenizer": ["validate"],
    "cache": ["validate", "tokenizer"],
    "train": ["validate", "tokenizer", "cache"],
    "predict": ["validate", "tokenizer", "cache", "train"],
}
STAGES = list(NEEDS)


# --------------------------------------------------------------------------- the stages
# Each stage function imports what it needs and returns the work to time, which returns
# its counts. ``work`` is the folder of one scale; ``settings`` those of the whole run.


def recipe(feature_dir: Path, lexicon: str | None) -> Any:
    """The offline recipe's experiment, one epoch on CPU without time limit or patience;
    ``lexicon``: a word list in place of jieba's dictionary (None: the recipe's)."""
    from nerflow.config.experiment import ExperimentConfig

    block = yaml.safe_load(OFFLINE.read_text(encoding="utf-8"))["experiments"][RECIPE]
    exp = ExperimentConfig.from_dict(block, path=f"{OFFLINE.name}: experiments.{RECIPE}")
    one_epoch = replace(
        exp.train, epochs=1, patience=0, eval_every_steps=0, max_minutes=0, device="cpu"
    )
    features = replace(exp.features, lexicon_path=lexicon) if lexicon else exp.features
    return replace(
        exp, scheme=SCHEME, feature_dir=str(feature_dir), train=one_epoch, features=features
    )


def validate_stage(work: Path, settings: dict) -> Callable[[], dict]:
    from nerflow.data.cluener import write_records
    from nerflow.data.rejections import write_rejected
    from nerflow.data.validate import validate_file

    def run() -> dict:
        result = validate_file(
            work / "train.json", split="train", labels=None, overlap_policy="keep_longest"
        )
        write_rejected(work / "train.rejected.jsonl", result.rejected)
        write_records(work / "train.jsonl", result.records)
        return {"records": len(result.records), "rejected": len(result.rejected)}

    return run


def tagging_stage(work: Path, settings: dict) -> Callable[[], dict]:
    from nerflow.data.cluener import read_records
    from nerflow.text.tagging import spans_to_tags, write_tag_file

    def run() -> dict:
        records = read_records(work / "train.jsonl")
        write_tag_file(
            work / f"train.{SCHEME}.tsv",
            ((r.text, spans_to_tags(len(r.text), r.spans, SCHEME)) for r in records),
        )
        return {"records": len(records)}

    return run


def tokenizer_stage(work: Path, settings: dict) -> Callable[[], dict]:
    from nerflow.data.cluener import read_records
    from nerflow.features.featurizer import build_feature_assets
    from nerflow.text.vocab import build_char_vocab, save_char_tokenizer

    exp = recipe(work / "tokenizer", settings["lexicon"])

    def run() -> dict:
        records = read_records(work / "train.jsonl")
        texts = [record.text for record in records]
        vocab = build_char_vocab(texts)
        save_char_tokenizer(vocab, exp.feature_dir)
        build_feature_assets(texts, exp.features, exp.feature_dir, records)
        return {"records": len(records), "vocab": len(vocab)}

    return run


def cache_stage(work: Path, settings: dict) -> Callable[[], dict]:
    from nerflow.data.cluener import read_records
    from nerflow.text.tagging import label_list
    from nerflow.text.vocab import load_tokenizer
    from nerflow.training.cache import build_cache, save_cache

    exp = recipe(work / "tokenizer", settings["lexicon"])

    def run() -> dict:
        cache = build_cache(
            read_records(work / "train.jsonl"),
            load_tokenizer(exp.feature_dir),
            exp.tokenization,
            exp.max_len,
            exp.scheme,
            label_list(settings["labels"], exp.scheme),
            features=exp.features,
            feature_dir=exp.feature_dir,
            stride=exp.stride,
        )
        save_cache(work / "train.pt", cache)
        return {"sequences": len(cache.input_ids)}

    return run


def train_stage(work: Path, settings: dict) -> Callable[[], dict]:
    from nerflow.data.cluener import read_records
    from nerflow.text.tagging import label_list
    from nerflow.text.vocab import load_tokenizer
    from nerflow.training.train import train

    exp = recipe(work / "tokenizer", settings["lexicon"])

    def run() -> dict:
        summary = train(
            exp,
            work / "train.pt",
            read_records(settings["dev"]),
            load_tokenizer(exp.feature_dir),
            label_list(settings["labels"], exp.scheme),
            work / "trained",
            work / "train_log.jsonl",
            threads=settings["threads"],
            progress_stream=None,
            checkpoint_dir=work / "checkpoints",
        )
        return {key: summary[key] for key in ("steps", "sentences_per_s", "best_metric")}

    return run


def predict_stage(work: Path, settings: dict) -> Callable[[], dict]:
    import torch

    from nerflow.inference.predict import predict_file
    from nerflow.inference.settings import PREDICT_BATCH_SIZE

    torch.set_num_threads(settings["threads"])

    def run() -> dict:
        model, texts = work / "trained" / "model", work / "train.jsonl"
        count = predict_file(model, texts, work / "predictions.json", PREDICT_BATCH_SIZE, "cpu")
        return {"records": count}

    return run


STAGE_WORK = {
    "validate": validate_stage,
    "tagging": tagging_stage,
    "tokenizer": tokenizer_stage,
    "cache": cache_stage,
    "train": train_stage,
    "predict": predict_stage,
}


def child(stage: str, work: Path) -> int:
    """(In the stage's process.) Run one stage on ``work``; print its figures as JSON."""
    settings = json.loads((work.parent / "settings.json").read_text(encoding="utf-8"))
    run = STAGE_WORK[stage](work, settings)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    counts = run()
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": round(seconds, 3), "rss_before_mib": round(before, 1), **counts}))
    return 0


# --------------------------------------------------------------------------- the parent


def to_run(selected: list[str]) -> list[str]:
    """The selected stages and those they need, in workflow order."""
    wanted = set(selected) | {need for stage in selected for need in NEEDS[stage]}
    return [stage for stage in STAGES if stage in wanted]


def repeated(lines: list[str], copies: int) -> list[str]:
    """``copies`` copies of the JSON lines; a record's ``id``, if any, gets the copy's
    number in front so that ids stay unique."""
    out = []
    for copy in range(copies):
        for line in lines:
            record = json.loads(line)
            if "id" in record:
                record["id"] = f"{copy}-{record['id']}"
                line = json.dumps(record, ensure_ascii=False)
            out.append(line)
    return out


def slope(scales: list[int], seconds: list[float]) -> float | None:
    """Exponent ``b`` of the least-squares fit ``seconds = a * scale ** b`` (1.0: linear)."""
    points = [(math.log(s), math.log(t)) for s, t in zip(scales, seconds, strict=True) if t > 0]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return round(num / sum((x - mean_x) ** 2 for x, _ in points), 3)


def summarise(per_scale: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One stage's figures at every scale, with its growth from the smallest to the largest."""
    scales = sorted(per_scale)
    seconds = [per_scale[s]["seconds"] for s in scales]
    low, high = scales[0], scales[-1]
    peak = per_scale[high]["peak_rss_mib"]
    return {
        "scales": {f"x{s}": per_scale[s] for s in scales},
        "time_ratio": round(seconds[-1] / seconds[0], 2) if seconds[0] else None,
        "linear_ratio": high / low,
        "slope": slope(scales, seconds),
        "peak_rss_mib_largest": peak,
        "within_limit": peak <= LIMIT_GIB * 1024,
    }


def report(stages: dict[str, dict[str, Any]], scales: list[int]) -> str:
    from benchutil import table

    high = f"x{scales[-1]}"
    header = ["stage", *(f"{s}x s" for s in scales), f"{high}/x{scales[0]} (linear)", "slope"]
    header += [f"peak RSS {s}x MiB" for s in scales] + [f"{high} rss before", f"<= {LIMIT_GIB} GiB"]
    rows = []
    for name, stage in stages.items():
        at = stage["scales"]
        row: list[Any] = [name, *(at[f"x{s}"]["seconds"] for s in scales)]
        row += [f"{stage['time_ratio']} ({stage['linear_ratio']:g})", stage["slope"]]
        row += [at[f"x{s}"]["peak_rss_mib"] for s in scales]
        row += [at[high]["rss_before_mib"], "yes" if stage["within_limit"] else "NO"]
        rows.append(row)
    return table(header, rows)


def parse(argv: list[str], data: Path, results: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=STAGES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=data, help="folder with train/dev.json")
    parser.add_argument(
        "--lexicon", type=Path, help="jieba-format word list (default: jieba's own)"
    )
    parser.add_argument("--dev-records", type=int, default=0, help="dev records (0: all)")
    parser.add_argument("--work", type=Path, default=results / "scale_work")
    parser.add_argument("--keep", action="store_true", help="keep each scale's files")
    parser.add_argument("--json-out", type=Path, default=results / "scale.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--stage"]:  # a stage's own process (see child)
        return child(argv[1], Path(argv[2]))
    import torch
    from benchutil import RESULTS, SHARED, environment, load_split, run_measured, write_result

    from nerflow.data.cluener import write_records
    from nerflow.data.records import entity_types

    args = parse(argv, SHARED / "data" / "cluener", RESULTS)
    scales, stages = sorted(set(args.scales)), to_run(args.stages)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    train_lines = [
        line
        for line in (args.data / "train.json").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    dev = load_split(args.data / "dev.json", "dev")
    write_records(work / "dev.jsonl", dev[: args.dev_records or None])
    settings = {
        "labels": entity_types(load_split(args.data / "train.json", "train")),
        "dev": str(work / "dev.jsonl"),
        "threads": args.threads,
        "lexicon": str(args.lexicon.resolve()) if args.lexicon else None,
    }
    (work / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    figures: dict[str, dict[int, dict[str, Any]]] = {stage: {} for stage in stages}
    for scale in scales:
        folder = work / f"x{scale}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        (folder / "train.json").write_text(
            "\n".join(repeated(train_lines, scale)) + "\n", encoding="utf-8"
        )
        for stage in stages:
            print(f"[bench] {scale}x {stage}", file=sys.stderr, flush=True)
            done = run_measured([sys.executable, __file__, "--stage", stage, str(folder)], env)
            if done["returncode"]:
                raise SystemExit(f"{stage} at {scale}x failed:\n{done['stderr'][-4000:]}")
            result = json.loads(done["stdout"].strip().splitlines()[-1])
            figures[stage][scale] = {
                **result,
                "wall_s": done["wall_s"],
                "peak_rss_mib": done["peak_rss_mib"],
            }
        if not args.keep:
            shutil.rmtree(folder)
    summary = {stage: summarise(per_scale) for stage, per_scale in figures.items()}
    text = report(summary, scales)
    print(text)
    settings_out = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    out = write_result(
        args.json_out,
        {
            "environment": environment(torch.device("cpu"), args.threads),
            "settings": settings_out,
            "train_records_1x": len(train_lines),
            "stages": summary,
            "table": text,
        },
    )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
