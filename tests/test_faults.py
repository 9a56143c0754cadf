"""Resource faults: a full disk or an unwritable results/ while writing a tensor cache, a
training checkpoint, a model folder or a text output raises an error naming the path and
leaves no half-written file in place (the previous version, if any, stays whole); and
GPU jobs never overlap under ``--resources gpu=1``."""

from __future__ import annotations

import csv
import errno
import os
import resource
import signal
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
import torch
from conftest import tiny_experiment
from workflow_helpers import copy_workflow, snakemake, tiny_data_config, write_config

from nerflow.atomic import WriteError, atomic_output, save_torch
from nerflow.data.records import Record, Span
from nerflow.text.tagging import label_list

TYPES = ["address", "company", "name"]
RECORDS = [
    Record(0, "叶老桂在北京浙商银行", [Span(0, 2, "name"), Span(4, 5, "address")]),
    Record(1, "上海银行的叶老桂", [Span(0, 3, "company"), Span(5, 7, "name")]),
    Record(2, "北京是中国的首都", [Span(0, 1, "address")]),
    Record(3, "浙商银行在上海", [Span(0, 3, "company"), Span(5, 6, "address")]),
]


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders that a failed write left beside its target."""
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name or ".old" in p.name)


def disk_full_midway(real_write_bytes: bytes = b"PK\x03\x04 half a file"):
    """A ``torch.save`` that writes some bytes, then fails like a full disk."""

    def save(obj, f, *args, **kwargs):
        if hasattr(f, "write"):
            f.write(real_write_bytes)
        else:
            Path(f).write_bytes(real_write_bytes)
        raise OSError(errno.ENOSPC, "No space left on device")

    return save


def assert_names(error: pytest.ExceptionInfo, path: Path, code: int | None) -> None:
    message = str(error.value)
    assert isinstance(error.value, WriteError) and isinstance(error.value, OSError)
    assert f"cannot write {path}:" in message, message
    assert "free on its disk" in message
    assert error.value.errno == code


# --------------------------------------------------------------------------- cache


def test_cache_write_fails_cleanly_on_a_full_disk(
    tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerflow.training.cache import build_cache, load_cache, save_cache

    labels = label_list(TYPES, "BIO")
    cache = build_cache(RECORDS, tokenizer, "char", 32, "BIO", labels, stride=8)
    target = tmp_path / "results" / "run" / "cache" / "train.pt"
    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", disk_full_midway())
        with pytest.raises(OSError) as error:
            save_cache(target, cache)
    assert_names(error, target, errno.ENOSPC)
    assert not target.exists() and leftovers(target.parent) == []

    save_cache(target, cache)  # a complete version, then a failing rewrite
    before = target.read_bytes()
    with monkeypatch.context() as patch:

        def torch_failure(obj, f, *args, **kwargs):  # what torch raises on a failed write
            f.write(b"PK\x03\x04")
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

        patch.setattr(torch, "save", torch_failure)
        with pytest.raises(OSError) as error:
            save_cache(target, cache.take(1))
    assert_names(error, target, None)
    assert "unexpected pos" in str(error.value)
    assert target.read_bytes() == before and load_cache(target).ids == [0, 1, 2, 3]
    assert leftovers(target.parent) == []


def test_real_torch_write_failure_keeps_its_cause(tmp_path: Path) -> None:
    """No mock: the process may write files of 64 KiB at most (RLIMIT_FSIZE), so the real
    torch.save fails midway with EFBIG, as it would with ENOSPC on a full disk."""
    target = tmp_path / "big.pt"
    save_torch({"small": torch.zeros(4)}, target)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
        with pytest.raises(OSError) as error:
            save_torch({"big": torch.zeros(100_000)}, target)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert_names(error, target, errno.EFBIG)
    assert "File too large" in str(error.value)
    assert torch.load(target, weights_only=True)["small"].shape == (4,)
    assert leftovers(tmp_path) == []


def test_unwritable_results_folder_is_named(tmp_path: Path) -> None:
    """``results`` is a file, not a folder: nothing can be created below it (as root too,
    unlike a chmod)."""
    (tmp_path / "results").write_text("not a folder", encoding="utf-8")
    target = tmp_path / "results" / "run" / "cache" / "train.pt"
    with pytest.raises(OSError) as error:
        save_torch({"x": 1}, target)
    assert_names(error, target, errno.ENOTDIR)
    with pytest.raises(OSError) as error:
        with atomic_output(tmp_path / "results" / "scores.json") as handle:
            handle.write("{}")
    assert_names(error, tmp_path / "results" / "scores.json", errno.ENOTDIR)


def test_text_output_keeps_its_previous_version(tmp_path: Path) -> None:
    target = tmp_path / "predictions.json"
    target.write_text("complete\n", encoding="utf-8")

    class Full:
        def __init__(self, handle) -> None:
            self.handle = handle

        def write(self, text: str) -> None:
            self.handle.write(text[:3])
            self.handle.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as error:
        with atomic_output(target) as handle:
            Full(handle).write("new predictions\n")
    assert_names(error, target, errno.ENOSPC)
    assert target.read_text(encoding="utf-8") == "complete\n"
    assert leftovers(tmp_path) == []

    with pytest.raises(FileNotFoundError) as other:  # an input's error stays as it is
        with atomic_output(target) as handle:
            handle.write(Path(tmp_path / "missing_input.txt").read_text())
    assert not isinstance(other.value, WriteError) and "missing_input.txt" in str(other.value)


def test_temporaries_of_killed_writers_are_cleaned_up(tmp_path: Path) -> None:
    """A writer killed mid-write (SIGKILL: no cleanup) leaves its ``.NAME.tmpPID``; the
    next write of that target removes it. A folder moved aside just before the kill comes
    back if nothing replaced it."""
    from nerflow.atomic import atomic_directory, remove_stale_temporaries

    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(finished.stdout)  # that process is gone
    target = tmp_path / "train.pt"
    (tmp_path / f".train.pt.tmp{dead_pid}").write_bytes(b"half a cache")
    (tmp_path / f".train.pt.tmp{os.getpid()}x").write_bytes(b"not ours to judge")
    save_torch({"x": 1}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".train.pt.tmp{os.getpid()}x",
        "train.pt",
    ]

    model = tmp_path / "model"
    moved = tmp_path / f".model.old{dead_pid}"
    moved.mkdir()
    (moved / "weights").write_text("the previous model", encoding="utf-8")
    half = tmp_path / f".model.tmp{dead_pid}"
    half.mkdir()
    remove_stale_temporaries(model)
    assert (model / "weights").read_text(encoding="utf-8") == "the previous model"
    assert not moved.exists() and not half.exists()
    with atomic_directory(model) as folder:
        (folder / "weights").write_text("a new model", encoding="utf-8")
    assert (model / "weights").read_text(encoding="utf-8") == "a new model"
    assert leftovers(tmp_path) == [f".train.pt.tmp{os.getpid()}x"]


# --------------------------------------------------------------------------- checkpoint


def test_checkpoint_write_failure_keeps_the_previous_checkpoint(
    tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerflow.training.cache import build_cache
    from nerflow.training.resume import CHECKPOINT_FILE
    from nerflow.training.train import train

    train_block = {"epochs": 3, "batch_size": 2, "device": "cpu", "patience": 0, "seed": 1}
    cfg = tiny_experiment("softmax", "BIO", hidden=16, train=train_block)
    labels = label_list(TYPES, "BIO")
    cache = build_cache(RECORDS, tokenizer, "char", 32, "BIO", labels, stride=8)
    checkpoints = tmp_path / "checkpoints"
    real_save, calls = torch.save, []

    def second_save_fails(obj, f, *args, **kwargs):
        calls.append(obj["progress"]["epoch"])
        if len(calls) == 2:
            return disk_full_midway()(obj, f)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", second_save_fails)
    with pytest.raises(OSError) as error:
        train(
            cfg,
            cache,
            RECORDS,
            tokenizer,
            labels,
            tmp_path / "trained",
            tmp_path / "train_log.jsonl",
            progress_stream=None,
            checkpoint_dir=checkpoints,
        )
    assert_names(error, checkpoints / CHECKPOINT_FILE, errno.ENOSPC)
    monkeypatch.setattr(torch, "save", real_save)
    state = torch.load(checkpoints / CHECKPOINT_FILE, weights_only=True)
    assert calls == [1, 2] and state["progress"]["epoch"] == 1  # epoch 1's, whole
    assert leftovers(checkpoints) == []
    assert not (tmp_path / "trained" / "model").exists()


# --------------------------------------------------------------------------- model folders


def tiny_model(tokenizer, seed: int):
    from nerflow.models.factory import build_model

    torch.manual_seed(seed)
    cfg = tiny_experiment("crf", "BIO", hidden=16)
    return build_model(cfg, label_list(TYPES, "BIO"), tokenizer)


@pytest.mark.parametrize("failure", ["enospc", "safetensors", "tokenizer"])
def test_model_save_failure_leaves_the_previous_folder(
    failure: str, tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    from nerflow.models.folder import load_model, save_model

    meta = {"tokenization": "char", "max_len": 32}
    target = tmp_path / "trained" / "model"
    first = tiny_model(tokenizer, seed=1)
    save_model(first, target, tokenizer, meta)
    weights = (target / "model.safetensors").read_bytes()
    real_save_file = safetensors.torch.save_file

    def crf_write_fails(tensors, filename, *args, **kwargs):  # the CRF goes last
        Path(filename).write_bytes(b"half")
        if failure == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise safetensors.SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        )

    def tokenizer_write_fails(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        if failure == "tokenizer":
            patch.setattr(type(tokenizer), "save_pretrained", tokenizer_write_fails)
        else:
            patch.setattr(safetensors.torch, "save_file", crf_write_fails)
        with pytest.raises(OSError) as error:
            save_model(tiny_model(tokenizer, seed=2), target, tokenizer, meta)
    assert_names(error, target, errno.ENOSPC if failure != "safetensors" else None)
    assert safetensors.torch.save_file is real_save_file
    assert (target / "model.safetensors").read_bytes() == weights  # the first model, whole
    assert load_model(target, "cpu")[2].labels == label_list(TYPES, "BIO")
    assert leftovers(target.parent) == []

    fresh = tmp_path / "fresh" / "model"  # no previous version: no folder at all
    with monkeypatch.context() as patch:
        patch.setattr(safetensors.torch, "save_file", crf_write_fails)
        with pytest.raises(OSError):
            save_model(first, fresh, tokenizer, meta)
    assert not fresh.exists() and leftovers(fresh.parent) == []


def test_pretrained_encoder_save_is_atomic(
    tmp_path: Path, tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerflow.config.scratch import PretrainConfig
    from nerflow.pretraining.mlm import build_mlm_model
    from nerflow.pretraining.pretrain import save_pretrained_mlm

    cfg = PretrainConfig(layers=1, hidden=16, heads=2, intermediate=32)
    model = build_mlm_model(cfg, tokenizer)
    target = tmp_path / "pretrain" / "model"

    def tokenizer_write_fails(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(type(tokenizer), "save_pretrained", tokenizer_write_fails)
        with pytest.raises(OSError) as error:
            save_pretrained_mlm(model, tokenizer, target, cfg, {})
    assert_names(error, target, errno.ENOSPC)
    assert not target.exists() and leftovers(target.parent) == []
    save_pretrained_mlm(model, tokenizer, target, cfg, {})
    assert (target / "config.json").exists() and leftovers(target.parent) == []


# --------------------------------------------------------------------------- GPU resource

TINY_BILSTM = {
    "encoder": "bilstm",
    "bilstm": {"embedding_dim": 8, "hidden": 8},
    "head": "softmax",
    "max_len": 32,
    "stride": 8,
    "train": {"epochs": 1, "batch_size": 16, "device": "cpu"},
}


def job_intervals(workdir: Path, pattern: str) -> dict[str, tuple[float, float]]:
    """``{benchmark file: (start, end)}`` of finished jobs: end is the benchmark file's
    mtime (written when the job ends), start is end minus the job's measured seconds."""
    intervals = {}
    for path in sorted(workdir.glob(pattern)):
        with open(path, encoding="utf-8") as handle:
            seconds = float(next(csv.DictReader(handle, delimiter="\t"))["s"])
        end = os.stat(path).st_mtime
        intervals[str(path.relative_to(workdir))] = (end - seconds, end)
    return intervals


def test_gpu_jobs_never_overlap_under_one_gpu(tmp_path: Path) -> None:
    """Two experiments, two cores, one thread per train/predict job: only the ``gpu=1``
    resource keeps their train and predict jobs from running side by side (without it,
    the two trainings run together). The default profile is left out: it sets gpu=1 too."""
    workdir = copy_workflow(tmp_path / "run")
    write_config(workdir, tiny_data_config(experiments={"a": TINY_BILSTM, "b": TINY_BILSTM}))
    targets = [f"results/{run}/predictions/dev.json" for run in ("a", "b")]
    flags = ["--workflow-profile", "none", "--cores", "2", "--resources", "gpu=1"]
    flags += ["--set-threads", "train=1", "predict=1"]  # last: it takes several values
    snakemake(workdir, *targets, *flags, snakefile=workdir / "Snakefile")
    gpu_jobs = job_intervals(workdir, "benchmarks/[ab]/train.tsv")
    gpu_jobs |= job_intervals(workdir, "benchmarks/[ab]/predict_dev.tsv")
    assert len(gpu_jobs) == 4, gpu_jobs
    for (name_a, (start_a, end_a)), (name_b, (start_b, end_b)) in combinations(gpu_jobs.items(), 2):
        assert end_a <= start_b or end_b <= start_a, f"{name_a} and {name_b} overlapped"
    # The later training was ready (its cache built) while the earlier one ran: it waited
    # for the GPU, not for its input or for a core.
    first = min(("a", "b"), key=lambda run: gpu_jobs[f"benchmarks/{run}/train.tsv"])
    # a and b share one train cache: it was built before the first training ended
    cache_end = job_intervals(workdir, "benchmarks/inputs/*/cache.tsv").popitem()[1][1]
    assert cache_end < gpu_jobs[f"benchmarks/{first}/train.tsv"][1]
