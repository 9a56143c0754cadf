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


def test_denormals(tmp_path: Path, bench_modules) -> None:
    import denormals

    out = tmp_path / "denormals.json"
    assert (
        denormals.main(
            ["--steps", "900", "--window", "450", "--threads", "2", "--json-out", str(out)]
        )
        == 0
    )
    result = read(out)
    kept, flushed = result["kept"], result["flushed"]
    assert [w["step"] for w in kept] == [w["step"] for w in flushed] == [450, 900]
    assert all(w["ms_per_step"] > 0 for w in kept + flushed)
    # ~800 steps after its last use, a row's first moment (x0.9 a step) is denormal
    assert kept[-1]["denormal_first_moments"] > 0
    assert [w["denormal_first_moments"] for w in flushed] == [0, 0]


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


def test_flat_decoding(tmp_path: Path, bench_modules) -> None:
    import flat_decoding

    from nerflow.data.cluener import read_records
    from nerflow.data.records import entity_types
    from nerflow.text.tagging import label_list
    from nerflow.text.vocab import build_char_vocab, load_tokenizer, save_char_tokenizer
    from nerflow.training.cache import build_cache
    from nerflow.training.train import train

    records = read_records(TINY / "train.json")  # flat: auto decodes flat
    save_char_tokenizer(build_char_vocab([r.text for r in records]), tmp_path / "tokenizer")
    tokenizer = load_tokenizer(tmp_path / "tokenizer")
    labels = label_list(entity_types(records), "BIOS")
    experiment = {"encoder": "bilstm", "bilstm": {"embedding_dim": 8, "hidden": 8}}
    experiment.update(head="span", span_head_size=4, max_len=16, stride=4)
    experiment["train"] = {"epochs": 1, "batch_size": 16, "device": "cpu"}
    cache = build_cache(records, tokenizer, "char", 16, "BIOS", labels, stride=4)
    train(experiment, cache, records[:4], tokenizer, labels, tmp_path, tmp_path / "log", 1, None)
    out = tmp_path / "flat_decoding.json"
    argv = [str(tmp_path / "model"), str(TINY / "dev.json"), "--threads", "1"]
    argv += ["--offsets", "-1000", "1000"]
    assert flat_decoding.main([*argv, "--json-out", str(out)]) == 0
    result = read(out)
    assert result["records"] == 16 and result["model_decoding"] == "flat"
    flat, nested = result["decodings"]["flat"], result["decodings"]["nested"]
    assert flat["overlapping_pairs"] == flat["records_with_overlaps"] == 0
    assert flat["spans"] <= nested["spans"] and nested["seconds"] > 0
    assert 0 <= flat["micro_f1"] <= 1 and "| flat |" in result["table"]
    lowered, raised = result["decodings"]["flat -1000"], result["decodings"]["flat +1000"]
    assert raised["spans"] == 0 and lowered["spans"] > flat["spans"]
    assert lowered["overlapping_pairs"] == 0 and lowered["offset"] == -1000


def test_scale_on_tiny_fixtures(tmp_path: Path, bench_modules) -> None:
    """bench/scale.py: every stage at 1x and 2x, each in its own measured process."""
    import scale
    from conftest import write_word_list

    out = tmp_path / "scale.json"
    argv = ["--data", str(TINY), "--scales", "1", "2", "--threads", "1"]
    argv += ["--lexicon", str(write_word_list(tmp_path / "words.txt"))]
    assert scale.main([*argv, "--work", str(tmp_path / "work"), "--json-out", str(out)]) == 0
    stages = read(out)["stages"]
    assert list(stages) == scale.STAGES
    for name, stage in stages.items():
        once, twice = stage["scales"]["x1"], stage["scales"]["x2"]
        assert once["seconds"] >= 0 and twice["peak_rss_mib"] > 0, name
        assert stage["linear_ratio"] == 2 and stage["within_limit"], name
    assert stages["validate"]["scales"]["x2"]["records"] == 2 * 48
    assert stages["predict"]["scales"]["x2"]["records"] == 2 * 48
    cache = stages["cache"]["scales"]
    assert cache["x2"]["sequences"] == 2 * cache["x1"]["sequences"]
    # Each stage's memory is its own: validation never loads torch.
    assert stages["validate"]["scales"]["x1"]["peak_rss_mib"] < 150
    assert scale.to_run(["cache"]) == ["validate", "tokenizer", "cache"]
    assert scale.repeated(['{"id": 3, "text": "a"}'], 2) == [
        '{"id": "0-3", "text": "a"}',
        '{"id": "1-3", "text": "a"}',
    ]


def test_rerun_precision_edits_and_expected_jobs(tmp_path: Path, bench_modules) -> None:
    """bench/rerun_precision.py without its complete run (minutes): the sampled work dir
    and cheap config keep the offline DAG, each edit is undone to the byte and the
    modification time, and the expected jobs follow from the DAG."""
    import rerun_precision as rp
    import yaml
    from dryrun import downstream, job_name

    work = tmp_path / "work"
    rp.prepare(work, TINY, {"train": 12, "dev": 4, "test": 0}, seed=1, minutes=1.0)
    train = (work / "data/train.json").read_text(encoding="utf-8").splitlines()
    assert len(train) == 12 and len((work / "data/test.json").read_text().splitlines()) == 12
    original = (TINY / "train.json").read_text(encoding="utf-8").splitlines()
    remaining = iter(original)
    assert all(line in remaining for line in train)  # in file order
    kinds = {kind for line in original for kind in json.loads(line)["label"]}
    assert kinds == {kind for line in train for kind in json.loads(line)["label"]}
    config = yaml.safe_load((work / rp.CONFIG).read_text(encoding="utf-8"))
    offline = yaml.safe_load((rp.ROOT / "config/offline.yaml").read_text(encoding="utf-8"))
    for key in ("ensembles", "run_experiments"):
        assert config[key] == offline[key]
    assert config["experiments"].keys() == offline["experiments"].keys()
    assert {e["train"]["epochs"] for e in config["experiments"].values()} == {1}

    dag = rp.planned(work, "--forceall")
    names = {job_name(job) for job in dag}
    edits = {edit.name: edit for edit in rp.the_edits("bilstm_gaz_crf_s1")}
    expected = {}
    for name, edit in edits.items():
        path = work / edit.path
        before, stat = path.read_bytes(), path.stat()
        with rp.edited(path, edit.change):
            assert path.read_bytes() != before, name
        assert path.read_bytes() == before and path.stat().st_mtime_ns == stat.st_mtime_ns
        roots = edit.roots(dag, work)
        assert roots and roots <= names, name
        expected[name] = {job.split("[")[0] for job in downstream(dag, roots)}
    scoring = edits["scoring option"].roots(dag, work)
    assert {job.split("[")[0] for job in scoring} == {"text_check"}
    assert {"score", "leaderboard"} <= expected["scoring option"]
    assert not {"train", "predict"} & expected["scoring option"]
    lr = downstream(dag, edits["learning rate"].roots(dag, work))
    assert "ensemble_predict[run=bilstm_gaz_vote3,split=dev]" in lr
    assert not {"train[run=bilstm_gaz_crf_s2]", "tensor_cache"} & lr
    assert "char_tags" in expected["tagging module"]
    assert "validate_split" not in expected["tagging module"]
    dev_readers = edits["dev.json line"].roots(dag, work)
    assert "validate_split[split=dev]" in dev_readers  # and the model cards (the data's hash)
    assert "validate_split[split=train]" not in dev_readers
    assert not {"tokenizer", "tensor_cache", "label_set"} & expected["dev.json line"]


def test_vote_thresholds(tmp_path: Path, bench_modules) -> None:
    """Two of three members agree with the gold spans everywhere: 2/3 scores 1.0, the union
    pays for an extra span, 3/3 for a missing one."""
    import vote_thresholds

    from nerflow.data.cluener import read_records, write_records
    from nerflow.data.records import Record, Span

    gold = read_records(TINY / "dev.json")
    first = next(i for i, record in enumerate(gold) if record.spans)
    extra = Span(0, 0, gold[first].spans[0].label)
    assert extra not in gold[first].spans
    fewer = [
        Record(r.id, r.text, r.spans[1:] if i == first else r.spans) for i, r in enumerate(gold)
    ]
    more = [
        Record(r.id, r.text, [*r.spans, extra] if i == first else r.spans)
        for i, r in enumerate(gold)
    ]
    paths = []
    for name, records in (("a", gold), ("b", fewer), ("c", more)):
        path = tmp_path / name / "predictions" / "dev.json"
        path.parent.mkdir(parents=True)
        write_records(path, records)
        paths.append(str(path))
    out = tmp_path / "votes.json"
    assert vote_thresholds.main([str(TINY / "dev.json"), *paths, "--json-out", str(out)]) == 0
    results = read(out)["results"]
    assert list(results) == ["member a", "member b", "member c", "vote 1/3", "vote 2/3", "vote 3/3"]
    assert results["vote 2/3"]["micro_f1"] == results["member a"]["micro_f1"] == 1.0
    assert results["vote 1/3"]["precision"] < 1.0 and results["vote 1/3"]["recall"] == 1.0
    assert results["vote 3/3"]["recall"] < 1.0 and results["vote 3/3"]["precision"] == 1.0


def test_the_offline_variants_are_valid_variants_of_the_first_offline_experiment() -> None:
    """bench/offline_variants.yaml is an overlay of config/offline.yaml: its experiments
    are valid, its ensembles' members exist, and every one keeps the first experiment's
    inputs and head (what the variants are measured against), LAC's frozen last layer
    (``lac_hidden``) or its fine-tuned encoder (``lac_encoder``) aside."""
    import dataclasses

    import yaml

    from nerflow.config.experiment import ExperimentConfig

    offline = yaml.safe_load((ROOT / "config/offline.yaml").read_text(encoding="utf-8"))
    overlay = yaml.safe_load((BENCH / "offline_variants.yaml").read_text(encoding="utf-8"))
    first = ExperimentConfig.from_dict(offline["experiments"][offline["run_experiments"][0]])

    def without_lac(features):
        return dataclasses.replace(features, lac_hidden=False, lac_encoder=False)

    for name, block in overlay["experiments"].items():
        variant = ExperimentConfig.from_dict(block)
        assert name not in offline["experiments"], name
        assert variant.features.lac_hidden or variant.features.lac_encoder, name
        assert (without_lac(variant.features), variant.head, variant.encoder) == (
            without_lac(first.features),
            first.head,
            first.encoder,
        ), name
    for ensemble in overlay["ensembles"].values():
        assert set(ensemble["members"]) <= set(overlay["experiments"])


def test_classification_speed(tmp_path: Path, vocab: Path, bench_modules) -> None:
    import classification_speed

    out = tmp_path / "classification.json"
    argv = ["--data", str(ROOT / "tests/fixtures/sentiment"), "--vocab", str(vocab)]
    argv += ["--steps", "2", "--batch-size", "4", "--layers", "1", "--hidden", "32"]
    argv += ["--max-len", "64", "--threads", "1", "--json-out", str(out)]
    assert classification_speed.main(argv) == 0
    result = read(out)
    assert result["train"]["sentences"] == 8 and result["predict"]["sentences"] == 13
    assert result["train"]["nerflow_per_s"] > 0 and result["predict"]["pipeline_per_s"] > 0
    assert result["train"]["ratio"] or "skipped" in result["train"]


def test_classification_windows(tmp_path: Path, bench_modules) -> None:
    import classification_windows

    from nerflow.classification.examples import Example
    from nerflow.classification.settings import NeuralSettings
    from nerflow.classification.training import train_neural

    data = classification_windows.read(ROOT / "tests/fixtures/sentiment/dev.tsv")
    settings = NeuralSettings.from_dict(
        {
            "max_len": 24,
            "stride": 6,
            "bilstm": {"embedding_dim": 8, "hidden": 8},
            "train": {"epochs": 1, "batch_size": 8, "device": "cpu"},
        }
    )
    train = [Example(x.id, x.text, x.label) for x in data]
    train_neural(
        settings,
        train,
        train,
        ["0", "1"],
        tmp_path / "model",
        tmp_path / "log",
        tmp_path / "work",
        stream=None,
    )
    out = tmp_path / "windows.json"
    argv = [str(tmp_path / "model"), str(ROOT / "tests/fixtures/sentiment/dev.tsv")]
    assert classification_windows.main([*argv, "--json-out", str(out)]) == 0
    result = read(out)
    assert result["long_texts"] >= 1 and len(result["accuracy"]) == 3


def test_serve_load_on_a_fixture_model(tmp_path: Path, bench_modules) -> None:
    """bench/serve_load.py: a fixed number of requests per level against nerflow serve, with
    batching and without; it stops by itself and writes its table."""
    import serve_load
    from conftest import save_tiny_models

    texts = [
        json.loads(line)["text"]
        for line in (TINY / "dev.json").read_text(encoding="utf-8").splitlines()
    ]
    model = save_tiny_models(tmp_path, texts, ["name", "address"], [("m", "softmax", 0)])["m"]
    out = tmp_path / "serve_load.json"
    argv = ["--model", str(model), "--records", str(TINY / "dev.json"), "--requests", "6"]
    argv += ["--warmup", "2", "--clients", "1", "3", "--batch-wait-ms", "5", "--threads", "1"]
    argv += ["--repeat", "2"]
    assert serve_load.main([*argv, "--json-out", str(out)]) == 0
    result = read(out)
    assert [mode["batch_wait_ms"] for mode in result["modes"]] == [5.0, None]
    for mode in result["modes"]:
        assert mode["peak_rss_mib"] > 0
        assert [level["clients"] for level in mode["levels"]] == [1, 3]
        for level in mode["levels"]:
            assert (level["requests"], level["failures"]) == (6, 0)
            assert len(level["runs_requests_per_s"]) == 2
            assert level["requests_per_s"] > 0 and level["p99_ms"] >= level["p50_ms"] > 0
    off = result["modes"][1]["levels"]
    assert all(level["texts_per_call"] == 1 for level in off)
    assert "| off | 3 |" in result["table"]


def test_onnx_predict(tmp_path: Path, bench_modules) -> None:
    pytest.importorskip("onnxscript", reason='ONNX export needs pip install "nerflow[export]"')
    import onnx_predict

    out = tmp_path / "onnx.json"
    argv = ["--train", str(TINY / "train.json"), "--records", str(TINY / "dev.json")]
    argv += ["--recipe", "scratch_transformer_crf"]  # the default recipe reads LAC: slower
    argv += ["--repeat", "1", "--threads", "1", "--work", str(tmp_path), "--json-out", str(out)]
    assert onnx_predict.main([*argv, "--train-steps", "1"]) == 0
    (result,) = read(out)["results"]
    assert result["identical_records"]["onnx"] == result["records"] == 16
    assert 0 <= result["identical_records"]["int8"] <= 16
    assert all(result["sentences_per_s"][kind] > 0 for kind in ("pytorch", "onnx", "int8"))
    assert set(result["dev_micro_f1"]) == {"pytorch", "onnx", "int8"}
    assert result["dev_micro_f1"]["onnx"] == result["dev_micro_f1"]["pytorch"]
    assert result["forward_s"]["onnx"] > 0 and result["forward_s"]["int8"] > 0
    exports = result["exports"]
    assert exports["onnx"]["max_abs_diff"] <= exports["int8"]["max_abs_diff"]
    assert result["cli"]["int8"]["peak_rss_mib"] > 0
    assert result["cli"]["onnx"]["peak_rss_mib"] > 0
