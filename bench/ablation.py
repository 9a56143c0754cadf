"""Train a list of experiment configurations on CLUENER and print a comparison table.

Each configuration is a :class:`nerflow.config.experiment.ExperimentConfig` (those of ``--config``:
experiment blocks in the schema's key names, ``encoder``, ``bilstm``, ``features``,
``head``, ``max_len``, ``train``, ..., merged on :data:`BASE`). The script builds the
character tokenizer from TRAIN, the feature assets of each configuration from TRAIN,
the tensor cache, trains with :func:`nerflow.training.train.train` (``train.max_minutes`` is
the time budget of a run), reloads the saved model folder, predicts dev with
:func:`nerflow.inference.predict.predict_records` and scores it with
:func:`nerflow.evaluation.scoring.score`.

Usage (from the repository root)::

    python bench/ablation.py --runs char bigram lexicon both --minutes 7
    python bench/ablation.py --config my_runs.yaml --minutes 30   # {name: experiment}
    python bench/ablation.py --config my_runs.yaml --only a --work w_a   # one block of it
    python bench/ablation.py --list

Results: one JSON line per run appended to ``<work>/results.jsonl`` and the table
(markdown) printed at the end (and written to ``<work>/table.md``).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from nerflow.config.experiment import BiLSTMConfig, ExperimentConfig, TrainConfig
from nerflow.data.records import entity_types
from nerflow.data.validate import validate_file
from nerflow.evaluation.scoring import score
from nerflow.features.config import FeatureConfig
from nerflow.features.featurizer import build_feature_assets
from nerflow.inference.predict import predict_records
from nerflow.models.folder import load_model
from nerflow.models.tagger import count_parameters
from nerflow.text.tagging import label_list
from nerflow.text.vocab import build_char_vocab, load_tokenizer, save_char_tokenizer
from nerflow.training.cache import build_cache
from nerflow.training.train import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cluener"

BASE = ExperimentConfig(
    encoder="bilstm",
    bilstm=BiLSTMConfig(embedding_dim=128, hidden=256, layers=1, dropout=0.5),
    head="crf",
    max_len=64,
    stride=16,
    train=TrainConfig(
        epochs=30,
        lr=2.0e-3,
        head_lr=1.0e-2,
        warmup_ratio=0.02,
        grad_clip=5.0,
        patience=0,
        amp="off",
        device="cpu",
        max_minutes=7,
    ),
)
"""The BiLSTM + CRF every run starts from (the other settings are the defaults)."""
PRESETS: dict[str, ExperimentConfig] = {
    "char": replace(BASE, features=FeatureConfig(bigram=False, lexicon=False)),
    "bigram": replace(BASE, features=FeatureConfig(bigram=True, lexicon=False)),
    "lexicon": replace(BASE, features=FeatureConfig(bigram=False, lexicon=True)),
    "both": replace(BASE, features=FeatureConfig(bigram=True, lexicon=True)),
}


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge (override wins)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_split(path: Path, split: str):
    result = validate_file(path, split=split, labels=None, overlap_policy="keep_longest")
    if result.rejected:
        raise SystemExit(f"{path}: {len(result.rejected)} rejected records")
    return result.records


def run_one(
    name: str,
    exp: ExperimentConfig,
    train_records,
    dev_records,
    tokenizer_dir: Path,
    types: list[str],
    scheme: str,
    work: Path,
    threads: int,
) -> dict:
    tokenizer = load_tokenizer(tokenizer_dir)
    labels = label_list(types, scheme)
    run_dir = work / name
    feature_dir = run_dir / "features"
    exp = replace(exp, scheme=scheme, feature_dir=str(feature_dir))
    started = time.perf_counter()
    build_feature_assets([r.text for r in train_records], exp.features, feature_dir, train_records)
    cache = build_cache(
        train_records,
        tokenizer,
        exp.tokenization,
        exp.max_len,
        scheme,
        labels,
        features=exp.features,
        feature_dir=feature_dir,
        stride=exp.stride,
    )
    prep_s = time.perf_counter() - started
    summary = train(
        exp,
        cache,
        dev_records,
        tokenizer,
        labels,
        run_dir / "out",
        run_dir / "train_log.jsonl",
        threads=threads,
        progress_stream=sys.stderr,
        checkpoint_dir=run_dir / "checkpoint",
    )
    model, model_tokenizer, meta = load_model(run_dir / "out" / "model", "cpu")
    started = time.perf_counter()
    predictions = predict_records(
        model,
        model_tokenizer,
        dev_records,
        meta.tokenization,
        int(meta.max_len),
        int(meta.stride),
        meta.scheme,
        meta.labels,
        64,
        "cpu",
    )
    predict_s = time.perf_counter() - started
    result = score(dev_records, predictions, types)
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    row = {
        "name": name,
        "config": exp.to_dict(),
        "dev_micro_f1": result["micro"]["f1"],
        "dev_precision": result["micro"]["precision"],
        "dev_recall": result["micro"]["recall"],
        "dev_macro_f1": result["macro_f1"],
        "dev_clue_macro_f1": result["clue_macro_f1"],
        "per_type_f1": {t: v["f1"] for t, v in result["per_type"].items()},
        "train_minutes": summary["train_minutes"],
        "sentences_per_s": summary["sentences_per_s"],
        "params": count_parameters(model),
        "epochs_run": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        "stop_reason": summary["stop_reason"],
        "prep_s": round(prep_s, 1),
        "dev_predict_s": round(predict_s, 1),
        "curve": [round(line["dev_micro_f1"], 4) for line in log],
        "summary_best_metric": summary["best_metric"],
    }
    return row


def table(rows: list[dict]) -> str:
    head = (
        "| config | dev micro F1 | macro F1 | CLUE macro F1 | P | R | train min | sent/s "
        "| params | epochs (best) |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['name']} | {r['dev_micro_f1']:.4f} | {r['dev_macro_f1']:.4f} "
        f"| {r['dev_clue_macro_f1']:.4f} | {r['dev_precision']:.4f} | {r['dev_recall']:.4f} "
        f"| {r['train_minutes']:.1f} | {r['sentences_per_s']:.0f} | {r['params']:,} "
        f"| {r['epochs_run']} ({r['best_epoch']}) |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", nargs="*", default=[], help="preset names (see --list)")
    parser.add_argument("--config", help="YAML/JSON file {name: experiment} (merged on BASE)")
    parser.add_argument("--only", nargs="*", help="of --config's blocks, run these (default: all)")
    parser.add_argument("--minutes", type=float, help="train.max_minutes of every run")
    parser.add_argument("--epochs", type=int, help="train.epochs of every run")
    parser.add_argument("--data", default=str(DATA), help="folder with train.json, dev.json")
    parser.add_argument("--scheme", default="BIOS")
    parser.add_argument("--work", default="results/bench/ablation")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        print(json.dumps({name: exp.to_dict() for name, exp in PRESETS.items()}, indent=2))
        return 0
    configs: dict[str, ExperimentConfig] = {name: PRESETS[name] for name in args.runs}
    if args.config:
        import yaml

        loaded = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
        configs.update(
            {
                name: ExperimentConfig.from_dict(
                    merge(BASE.to_dict(), block), f"{args.config}: {name}"
                )
                for name, block in loaded.items()
                if not args.only or name in args.only
            }
        )
    if not configs:
        parser.error("nothing to run: give --runs and/or --config")
    given = {"max_minutes": args.minutes, "epochs": args.epochs}
    overrides = {key: value for key, value in given.items() if value is not None}
    configs = {
        name: replace(exp, train=replace(exp.train, **overrides)) for name, exp in configs.items()
    }

    torch.set_num_threads(args.threads)
    data = Path(args.data)
    train_records = load_split(data / "train.json", "train")
    dev_records = load_split(data / "dev.json", "dev")
    types = entity_types(train_records)
    work = Path(args.work)
    tokenizer_dir = work / "tokenizer"
    save_char_tokenizer(build_char_vocab(r.text for r in train_records), tokenizer_dir)
    rows = []
    for name, exp in configs.items():
        print(f"=== {name}: {json.dumps(exp.to_dict())}", file=sys.stderr, flush=True)
        row = run_one(
            name,
            exp,
            train_records,
            dev_records,
            tokenizer_dir,
            types,
            args.scheme,
            work,
            args.threads,
        )
        rows.append(row)
        with open(work / "results.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(table([row]), file=sys.stderr, flush=True)
    text = table(rows)
    (work / "table.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
