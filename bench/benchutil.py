"""Plumbing shared by the throughput benchmarks (``train_throughput.py``, ``inference.py``,
``gpu_bench.py``): default paths, records, device clocks and memory, tables, JSON."""

from __future__ import annotations

import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from nerflow.data.records import Record
from nerflow.data.validate import validate_file
from nerflow.tensors import peak_gpu_mib

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TRAIN = SHARED / "data" / "cluener" / "train.json"
DEV = SHARED / "data" / "cluener" / "dev.json"
VOCAB = SHARED / "models" / "bert-base-chinese-vocab"
RESULTS = ROOT / "results" / "bench"


def load_split(path: str | Path, split: str) -> list[Record]:
    """Validated records of a CLUENER file, overlaps resolved as the workflow does."""
    result = validate_file(path, split=split, labels=None, overlap_policy="keep_longest")
    if result.rejected:
        raise SystemExit(f"{path}: {len(result.rejected)} rejected records")
    return result.records


def sync(device: torch.device) -> None:
    """Wait for queued kernels so that a clock reading covers them (CUDA only)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """``(seconds, result)`` of ``fn()``, queued device work included."""
    sync(device)
    start = time.perf_counter()
    result = fn()
    sync(device)
    return time.perf_counter() - start, result


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    """Peak GPU memory of ``device`` in MiB (None on the CPU)."""
    return peak_gpu_mib(device)


def max_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def environment(device: torch.device, threads: int) -> dict[str, Any]:
    """What the figures were measured on."""
    import transformers

    from nerflow.provenance import describe_hardware

    return {
        "hardware": describe_hardware(device),
        "device": str(device),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def quiet_transformers() -> None:
    """No progress bars from transformers (model saving) in the benchmark's output."""
    from transformers.utils import logging

    logging.disable_progress_bar()


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats shown with at most two decimals, None as ``-``."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            if abs(value) >= 100:
                return f"{value:,.0f}"
            return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def write_result(path: str | Path, result: dict[str, Any]) -> Path:
    """Write the benchmark's JSON (creating the folder); return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


def skipped(error: BaseException) -> dict[str, str]:
    """The record of a case that could not run here (a missing optional package)."""
    return {"skipped": f"{type(error).__name__}: {error}"}


# Spawns the command and writes its peak RSS (KiB) to the file argv[1]. Linux carries a
# process's peak RSS over fork and exec, so a child spawned by a process holding torch
# would report at least that: this small launcher keeps the parent's memory out.
_LAUNCHER = """import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as handle:
    handle.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(command: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command`` to its end: its ``returncode``, ``stdout``, ``stderr``, ``wall_s`` and
    ``peak_rss_mib``, the peak resident memory of that process alone (``wait4``'s usage of
    the child, through a launcher of about 13 MiB; the child's own children not counted)."""
    with tempfile.TemporaryDirectory() as folder:
        rss = Path(folder) / "rss"
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(rss), *command],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        wall = time.perf_counter() - start
        peak = int(rss.read_text()) / 1024 if rss.exists() else None
    return {
        "returncode": done.returncode,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "wall_s": round(wall, 3),
        "peak_rss_mib": round(peak, 1) if peak is not None else None,
    }
