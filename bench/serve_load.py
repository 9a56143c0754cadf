"""``nerflow serve`` under a bounded local load: requests/s, p50 and p99 latency at 1, 8 and
32 concurrent clients, with and without request batching; the server's peak memory.

Issue 24, part 2. The server runs as a subprocess (``nerflow serve MODEL --port 0``, on
127.0.0.1 only) once per batching mode: for each ``--batch-wait-ms`` (default 0, the
server's default: a model call takes the requests that queued while the previous one ran,
and 5 ms: it also waits that long for more; up to 64 texts a call), and once with
``--no-batching`` (one model call per request). For each number of clients, a
fixed number of requests (``--requests``), each one CLUENER dev text (``{"text": ...}``),
is sent by that many concurrent clients (asyncio, aiohttp's client, one connection each,
keep-alive), after a warm-up; the run stops by itself. Latency is the client's: from
sending a request to reading its answer. Peak memory is the server process's peak
resident set (``VmHWM`` of ``/proc/PID/status``) after all its levels. Clients and servers
share the machine's cores; the modes' servers run side by side (idle but one) and their
levels are interleaved, each ``--repeat`` times, the fastest run kept, so that other load
on a shared machine slows them alike and least.

Model: ``--model`` (a NER model folder, e.g. results/RUN/model); without it, a small BERT
(``--layers`` x ``--hidden``, real bert-base-chinese vocabulary, random init) trained
``--train-steps`` steps on CLUENER train with nerflow's loop
(``bench/inference_paths.briefly_trained_folder``): it tags like a trained model (mostly
``O``), so restoring spans costs what it costs in use.

    python bench/serve_load.py --threads 2
    python bench/serve_load.py --model results/bilstm_lac_span/model --requests 400

Writes ``results/bench/serve_load.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchutil import DEV, RESULTS, TRAIN, VOCAB, environment, load_split, table, write_result

CLIENTS = (1, 8, 32)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a NER model folder (default: a briefly trained BERT)")
    parser.add_argument("--records", default=str(DEV), help="CLUENER file whose texts to send")
    parser.add_argument("--requests", type=int, default=1000, help="requests per level")
    parser.add_argument("--warmup", type=int, default=20, help="requests before each mode")
    parser.add_argument("--repeat", type=int, default=3, help="runs per level; the fastest kept")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--threads", type=int, default=2, help="the server's torch threads")
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        nargs="+",
        default=[0.0, 5.0],
        help="batching modes: how long a model call waits for more requests (0: only those "
        "queued while the previous call ran)",
    )
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="server device")
    parser.add_argument("--vocab", default=str(VOCAB), help="vocab.txt folder (default model)")
    parser.add_argument("--train-data", default=str(TRAIN), help="CLUENER train (default model)")
    parser.add_argument("--layers", type=int, default=2, help="default model: layers")
    parser.add_argument("--hidden", type=int, default=128, help="default model: hidden size")
    parser.add_argument("--heads", type=int, default=2, help="default model: attention heads")
    parser.add_argument("--train-steps", type=int, default=150, help="default model: steps")
    parser.add_argument("--work", default=str(RESULTS / "serve_load_work"))
    parser.add_argument("--json-out", default=str(RESULTS / "serve_load.json"))
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- the server


def start_server(model: str, threads: int, device: str, options: Sequence[str]) -> Any:
    """``nerflow serve`` on a free port of 127.0.0.1: ``(process, url)``."""
    command = [sys.executable, "-m", "nerflow", "serve", model, "--port", "0"]
    command += ["--threads", str(threads), "--device", device, *options]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "listening on " in line:
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, line.split("listening on ", 1)[1].split()[0]
    process.wait()
    raise SystemExit(f"nerflow serve did not start (exit {process.returncode}): {''.join(seen)}")


def peak_rss_mib(pid: int) -> float | None:
    """``VmHWM`` of a running process (Linux), in MiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


# --------------------------------------------------------------------------- the load


async def load(url: str, texts: Sequence[str], requests: int, clients: int) -> dict[str, Any]:
    """``requests`` POSTs of one text each by ``clients`` concurrent clients."""
    import aiohttp

    latencies: list[float] = []
    failures = 0
    next_index = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal next_index, failures
        while next_index < requests:
            index = next_index
            next_index += 1
            body = {"text": texts[index % len(texts)], "id": index}
            start = time.perf_counter()
            async with session.post(f"{url}/predict", json=body) as response:
                answer = await response.json()
            latencies.append(time.perf_counter() - start)
            if response.status != 200 or answer.get("id") != index:
                failures += 1

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "clients": clients,
        "requests": len(latencies),
        "failures": failures,
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(latencies) / wall, 2),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
    }


def health(url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{url}/health", timeout=60) as response:
        return json.loads(response.read())


def measure_level(url: str, texts: Sequence[str], requests: int, clients: int) -> dict:
    """One load, with the model calls it caused (the server's counters)."""
    before = health(url)["counters"]
    level = asyncio.run(load(url, texts, requests, clients))
    after = health(url)["counters"]
    calls = after["model_calls"] - before["model_calls"]
    level["model_calls"] = calls
    level["texts_per_call"] = round((after["texts"] - before["texts"]) / calls, 2)
    return level


def measure(args: argparse.Namespace, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Every mode (batching with each wait, then none) at every level of clients, each
    ``--repeat`` times, interleaved so that other load on the machine falls on all modes
    alike; a level keeps its fastest run (the one least slowed by others)."""
    waits: list[float | None] = [*args.batch_wait_ms, None]
    servers = []
    try:
        for wait_ms in waits:
            options = ["--no-batching"] if wait_ms is None else ["--batch-wait-ms", str(wait_ms)]
            process, url = start_server(args.model, args.threads, args.device, options)
            servers.append((process, url, options))
            asyncio.run(load(url, texts, args.warmup, 4))
        runs: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for repeat in range(args.repeat):
            for clients in args.clients:
                for index, (_process, url, _options) in enumerate(servers):
                    level = measure_level(url, texts, args.requests, clients)
                    runs.setdefault((index, clients), []).append(level)
                    print(
                        f"run {repeat + 1}, {mode_name(waits[index])}, {clients} clients: "
                        f"{level['requests_per_s']} req/s (load {os.getloadavg()[0]:.2f})",
                        file=sys.stderr,
                    )
        modes = []
        for index, (process, _url, options) in enumerate(servers):
            levels = []
            for clients in args.clients:
                tried = runs[(index, clients)]
                best = max(tried, key=lambda level: level["requests_per_s"])
                levels.append({**best, "runs_requests_per_s": [r["requests_per_s"] for r in tried]})
            modes.append(
                {
                    "batching": waits[index] is not None,
                    "batch_wait_ms": waits[index],
                    "options": options,
                    "levels": levels,
                    "peak_rss_mib": peak_rss_mib(process.pid),
                }
            )
        return modes
    finally:
        for process, _url, _options in servers:
            process.terminate()
            process.wait(timeout=60)


def mode_name(wait_ms: float | None) -> str:
    return "off" if wait_ms is None else f"on, wait {wait_ms:g} ms"


def summary(modes: Sequence[dict[str, Any]]) -> str:
    header = ["batching", "clients", "req/s", "p50 ms", "p99 ms", "texts/model call"]
    header.append("server peak RSS MiB")
    rows = [
        [
            mode_name(mode["batch_wait_ms"]),
            level["clients"],
            level["requests_per_s"],
            level["p50_ms"],
            level["p99_ms"],
            level["texts_per_call"],
            mode["peak_rss_mib"],
        ]
        for mode in modes
        for level in mode["levels"]
    ]
    return table(header, rows)


def default_model(args: argparse.Namespace, dev: list) -> str:
    import torch
    from inference_paths import briefly_trained_folder
    from training_loops import real_tokenizer

    work = Path(args.work)
    folder = work / "trained" / "model"
    if (folder / "nerflow_head.json").is_file():
        return str(folder)  # trained by an earlier run with the same --work
    tokenizer = real_tokenizer(args.vocab, work / "tokenizer")
    torch.set_num_threads(args.threads)
    shape = (args.layers, args.hidden, args.heads)
    train_records = load_split(args.train_data, "train")
    return str(
        briefly_trained_folder(
            tokenizer,
            train_records,
            dev[:64],
            work / "trained",
            shape,
            args.train_steps,
            torch.device("cpu"),
            args.threads,
        )  # fmt: skip
    )


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse(argv)
    dev = load_split(args.records, "dev")
    texts = [record.text for record in dev]
    model_note = args.model or "default"
    if not args.model:
        args.model = default_model(args, dev)
    started = time.perf_counter()
    load_before = os.getloadavg()
    modes = measure(args, texts)
    text = summary(modes)
    print(text)
    out = {
        "environment": environment(torch.device(args.device), args.threads),
        "settings": {**vars(args), "model_given": model_note},
        "texts": len(texts),
        "modes": modes,
        "wall_s": round(time.perf_counter() - started, 1),
        "load_average_before_after": [load_before, os.getloadavg()],
        "table": text,
    }
    print(f"written: {write_result(args.json_out, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
