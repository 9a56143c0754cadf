"""Why training flushes denormals on CPU: AdamW steps over embedding tables with
and without ``torch.set_flush_denormal``, side by side in one run.

A batch touches few rows of a large embedding table (bigrams, lexicon words). The other
rows get a zero gradient, so Adam's first moment of each decays by ``beta1`` (0.9) every
step and, some 800 steps after the row was last touched, enters the float32 denormal
range (below 1.2e-38) for about 150 steps. CPU arithmetic on denormals is many times
slower. Each setting trains the first offline experiment's three tables (characters,
bigrams, SoftLexicon words: the shapes of ``config/offline.yaml``'s ``bilstm_lac_span``
on CLUENER) with the fused AdamW of :class:`nerflow.training.loop.Loop`, that experiment's
learning rate and weight decay (:func:`nerflow.nn.optim.decay_groups`), on the same batches:
ids drawn from a Zipf distribution (as character and word frequencies are), ``batch_size
* chars`` per table per step. The table gives the milliseconds per step of each window of
steps and how many first-moment entries are denormal at its end. Each setting runs in a
process of its own: the flush mode is per thread, and torch's worker threads keep the one
they started with.

    python bench/denormals.py --steps 3000 --threads 2

Writes ``results/bench/denormals.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import torch
import yaml
from benchutil import RESULTS, environment, ratio, write_result
from benchutil import table as markdown
from training_loops import OFFLINE

from nerflow.config.experiment import ExperimentConfig
from nerflow.nn.optim import decay_groups

TABLES = {"chars": (3676, 128), "bigram": (44136, 64), "words": (28402, 50)}
"""Rows x width of the first offline experiment's embedding tables on CLUENER train."""
RECIPE = "bilstm_lac_span"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="AdamW steps per setting")
    parser.add_argument("--window", type=int, default=500, help="steps per table row")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chars", type=int, default=40, help="characters per sentence")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", default=str(RESULTS / "denormals.json"))
    return parser.parse_args(argv)


def denormal_count(tensor: torch.Tensor) -> int:
    tiny = torch.finfo(tensor.dtype).tiny
    return int(((tensor != 0) & (tensor.abs() < tiny)).sum())


def measure(args: argparse.Namespace, flush: bool) -> list[dict[str, Any]]:
    """Per window: its steps, milliseconds per step and denormal first-moment entries
    (in a fresh process: the flush mode set before torch starts its worker threads)."""
    torch.set_flush_denormal(flush)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    block = yaml.safe_load(OFFLINE.read_text(encoding="utf-8"))["experiments"][RECIPE]
    train = ExperimentConfig.from_dict(block, path=f"{OFFLINE.name}: experiments.{RECIPE}").train
    tables = [torch.nn.Embedding(rows, width) for rows, width in TABLES.values()]
    params = [table.weight for table in tables]
    named = [(f"{name}.weight", p) for name, p in zip(TABLES, params, strict=True)]
    groups = decay_groups(named, train.lr, train.weight_decay, "encoder")
    optimizer = torch.optim.AdamW(groups, fused=True)
    zipf = [1.0 / torch.arange(1, rows + 1, dtype=torch.float) for rows, _ in TABLES.values()]
    draws = torch.Generator().manual_seed(args.seed)
    windows, start = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        optimizer.zero_grad()
        loss = sum(
            table(torch.multinomial(weights, args.batch_size * args.chars, True, generator=draws))
            .pow(2)
            .mean()
            for table, weights in zip(tables, zipf, strict=True)
        )
        loss.backward()
        optimizer.step()
        if step % args.window == 0 or step == args.steps:
            seconds = time.perf_counter() - start
            done = step - (windows[-1]["step"] if windows else 0)
            moments = [optimizer.state[p]["exp_avg"] for p in params]
            windows.append(
                {
                    "step": step,
                    "ms_per_step": 1000 * seconds / done,
                    "denormal_first_moments": sum(denormal_count(m) for m in moments),
                }
            )
            start = time.perf_counter()
    return windows


def measured_apart(args: argparse.Namespace, flush: bool) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(measure, args, flush).result()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    kept, flushed = measured_apart(args, flush=False), measured_apart(args, flush=True)
    rows = [
        [
            a["step"],
            a["ms_per_step"],
            b["ms_per_step"],
            ratio(a["ms_per_step"], b["ms_per_step"]),
            a["denormal_first_moments"],
            b["denormal_first_moments"],
        ]
        for a, b in zip(kept, flushed, strict=True)
    ]
    header = [
        "up to step",
        "ms/step, denormals kept",
        "ms/step, flushed",
        "kept / flushed",
        "denormal Adam moments, kept",
        "flushed",
    ]
    print(markdown(header, rows))
    result = {
        "environment": environment(torch.device("cpu"), args.threads),
        "settings": {k: v for k, v in vars(args).items() if k != "json_out"},
        "tables": {name: list(shape) for name, shape in TABLES.items()},
        "kept": kept,
        "flushed": flushed,
    }
    print(f"wrote {write_result(args.json_out, result)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
