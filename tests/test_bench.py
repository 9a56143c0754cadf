"""The throughput benchmarks (bench/train_throughput.py, bench/inference.py,
bench/gpu_bench.py through bench/gpu.sh) run end to end on the tiny fixture data set with
tiny models and write their JSON: what the real runs on CLUENER (and the GPU machine)
rely on working the first time."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TINY = ROOT / "tests" / "fixtures" / "tiny"
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lower-cased WordPiece vocabulary of the fixture's characters (as bert-base-chinese's
    ``vocab.txt`` is laid out: specials first)."""
    texts = [
        json.loads(line)["text"]
        for split in ("train", "dev")
        for line in (TINY / f"{split}.json").read_text(encoding="utf-8").splitlines()
    ]
    chars = sorted({char.lower() for text in texts for char in text if not char.isspace()})
    folder = tmp_path_factory.mktemp("vocab")
    (folder / "vocab.txt").write_text("\n".join(SPECIALS + chars) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def bench_modules(monkeypatch: pytest.MonkeyPatch):
    """The bench folder importable as the scripts see it; torch's thread count restored."""
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def data_args(vocab: Path) -> list[str]:
    return ["--data", f"{TINY}/train.json", "--dev", f"{TINY}/dev.json", "--vocab", str(vocab)]


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def speed(loop: dict) -> bool:
    """A measured loop, or one skipped for a missing optional package (accelerate)."""
    return loop.get("sentences_per_s", 0) > 0 or "skipped" in loop


def test_train_throughput(tmp_path: Path, vocab: Path, bench_modules) -> None:
    import train_throughput

    out = tmp_path / "train.json"
    tiny = ["--steps", "2", "--batch-size", "8", "--layers", "1", "--hidden", "32"]
    tiny += ["--heads", "2", "--max-len", "64", "--threads", "1", "--dev-records", "4"]
    argv = [*tiny, *data_args(vocab), "--work", str(tmp_path / "work"), "--json-out", str(out)]
    assert train_throughput.main(argv) == 0
    result = read(out)
    assert set(result["models"]) == {"bilstm", "bert"}
    bilstm, bert = result["models"]["bilstm"], result["models"]["bert"]
    assert set(bilstm["loops"]) == {"nerflow", "pad128"}
    assert set(bert["loops"]) == {"nerflow", "pad128", "trainer"}
    for model in (bilstm, bert):
        assert model["sentences"] == 16 and model["steps"] == 2
        assert all(speed(loop) for loop in model["loops"].values())
        assert model["loops"]["nerflow"]["sentences"] == model["loops"]["pad128"]["sentences"]
        assert model["targets"]["vs_pad128"]["target"] == 2.5
    assert bilstm["experiment"]["features"]["gazetteer"] is True  # the offline recipe
    assert "| bert | trainer |" in result["table"]


def test_inference(tmp_path: Path, vocab: Path, bench_modules) -> None:
    import inference

    out = tmp_path / "inference.json"
    tiny = ["--layers", "1", "--hidden", "32", "--heads", "2", "--threads", "1"]
    tiny += ["--single-limit", "4", "--copies", "4", "--repeat", "1"]
    argv = [*tiny, "--records", str(TINY / "dev.json"), "--vocab", str(vocab)]
    argv += ["--work", str(tmp_path / "work"), "--json-out", str(out)]
    assert inference.main(argv) == 0
    result = read(out)
    for path in ("forward", "nerflow", "pipeline_batched", "pipeline_single"):
        assert result[path]["sentences_per_s"] > 0, path
    assert result["records"] == 16 and result["pipeline_single"]["texts"] == 4
    assert 0 <= result["identical_records"] <= 16
    assert result["memory"]["x1"]["records"] == 16
    assert result["memory"]["x4"]["records"] == 64
    assert result["memory"]["peak_ratio"] > 0
    assert set(result["targets"]) == {"overhead", "vs_pipeline_batched", "vs_pipeline_single"}


def test_gpu_script_on_cpu(tmp_path: Path, vocab: Path) -> None:
    out = tmp_path / "gpu.json"
    env = {**os.environ, "NERFLOW_DATA": str(TINY), "NERFLOW_VOCAB": str(vocab)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    command = ["bash", str(BENCH / "gpu.sh"), "--tiny", "--device", "cpu", "--threads", "1"]
    command += ["--work", str(tmp_path / "work"), "--json-out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = read(out)
    assert result["settings"]["precisions_run"] == ["fp32"]  # no bf16 without CUDA
    training = result["training"]
    assert set(training) == {"nerflow softmax fp32", "nerflow crf fp32", "trainer softmax fp32"}
    assert all(speed(case) for case in training.values()), training
    assert training["nerflow softmax fp32"]["peak_gpu_mib"] is None
    for head in ("softmax", "crf"):
        assert result["inference"][head]["nerflow_sentences_per_s"] > 0
    assert result["inference"]["softmax"]["pipeline_batched_sentences_per_s"] > 0
