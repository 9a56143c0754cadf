"""Any label set and shape, by config alone (issue 9, point 4).

The whole DAG (the default target: validation, tags, round trips, oracle, training,
prediction, text checks, scores, submission, model card, leaderboard and report figures)
runs on data sets made by ``tests/fixtures/make_shapes.py``, each with nothing but a
config: a tiny one-epoch model per shape.

* ``odd_types``: 50 types named with dots, dashes, digits and non-ASCII letters (``B-2``
  and ``I-O`` look like tags), most records ``"label": {}``, texts of 2,000+ characters
  with hundreds of entities, labelled test splits without ``id``; BIO tags.
* ``one_type``: one type, the CLUENER layout (unlabelled test with ``id``); BIOES tags and
  the span head.
* ``no_dev``: no dev split: the workflow refuses it with a message saying why and what
  to do.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from workflow_helpers import (
    FIXTURES,
    load_json,
    snakemake,
    start_snakemake,
    wait_snakemake,
    write_config,
)

sys.path.insert(0, str(FIXTURES))
from make_shapes import ODD_TYPES, build  # noqa: E402

SHAPES = FIXTURES / "shapes"
TINY_SCRATCH = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64}
TINY_TRAIN = {"epochs": 1, "batch_size": 8, "lr": 5.0e-3, "head_lr": 5.0e-2, "device": "cpu"}
EXPERIMENTS = {
    "odd_types": {
        "encoder": "scratch",
        "scratch": TINY_SCRATCH,
        "head": "crf",
        "max_len": 64,  # long texts: sliding windows in prediction
        "stride": 16,
        "train": dict(TINY_TRAIN, batch_size=32),
    },
    "one_type": {
        "encoder": "scratch",
        "scratch": TINY_SCRATCH,
        "head": "span",
        "span_head_size": 8,
        "max_len": 32,
        "stride": 8,
        "train": TINY_TRAIN,
    },
}
SCHEMES = {"odd_types": "BIO", "one_type": "BIOES"}
TEST_LABELLED = {"odd_types": True, "one_type": False}  # scored, or a submission


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def shape_config(shape: str, splits: tuple[str, ...] = ("train", "dev", "test")) -> dict:
    config: dict = {"data": {split: str(SHAPES / shape / f"{split}.json") for split in splits}}
    if shape in EXPERIMENTS:
        config["tagging"] = {"scheme": SCHEMES[shape]}
        config["experiments"] = {shape: EXPERIMENTS[shape]}
    return config


@pytest.fixture(scope="module")
def shape_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every shape's whole DAG, all at once: each is mostly a chain of short jobs, so
    together they keep the cores busy."""
    workdirs = {shape: tmp_path_factory.mktemp(shape) for shape in EXPERIMENTS}
    for shape, workdir in workdirs.items():
        write_config(workdir, shape_config(shape))
    processes = [start_snakemake(workdir, "--cores", "2") for workdir in workdirs.values()]
    for process in processes:
        process.wait(timeout=900)
    for process in processes:
        wait_snakemake(process)  # raises with the output of a failed run
    return workdirs


@pytest.fixture(params=sorted(EXPERIMENTS))
def shape_run(request: pytest.FixtureRequest, shape_runs: dict[str, Path]) -> tuple[str, Path]:
    return request.param, shape_runs[request.param]


def test_the_fixtures_are_the_scripts_output_and_have_their_shapes() -> None:
    for name, splits in build().items():
        assert sorted(p.name for p in (SHAPES / name).iterdir()) == sorted(
            f"{split}.json" for split in splits
        )
        for split, content in splits.items():
            committed = (SHAPES / name / f"{split}.json").read_text("utf-8")
            assert content == committed, f"rerun tests/fixtures/make_shapes.py ({name}/{split})"
    odd = [
        r
        for split in ("train", "dev", "test")
        for r in lines(SHAPES / "odd_types" / f"{split}.json")
    ]
    assert sum(r["label"] == {} for r in odd) > len(odd) / 2
    long = [r for r in odd if len(r["text"]) >= 2000]
    assert len(long) >= 3 and all(
        sum(len(p) for m in r["label"].values() for p in m.values()) >= 150 for r in long
    )


def test_every_split_is_kept_whole_with_its_own_type_names(shape_run) -> None:
    shape, workdir = shape_run
    types = ODD_TYPES if shape == "odd_types" else ["名.称-2"]
    assert load_json(workdir / "results/data/labels.json")["labels"] == sorted(types)
    for split in ("train", "dev", "test"):
        report = load_json(workdir / f"results/data/{split}.report.json")
        assert report["rejected"] == 0 and report["records"] == report["lines"], report
        assert report["spans_dropped_overlap"] == 0


def test_the_oracle_restores_every_gold_span(shape_run) -> None:
    """Gold tags through tokenisation, windows and restore: 1.0, long texts included."""
    shape, workdir = shape_run
    for split in ("dev", "test") if TEST_LABELLED[shape] else ("dev",):
        oracle = load_json(workdir / f"results/oracle/{split}_scores.json")
        assert oracle["text_mismatch_lines"] == 0
        assert oracle["micro"]["f1"] == 1.0, (split, oracle["micro"])
        assert oracle["seqeval_micro_f1"] == 1.0
        for entity_type, scores in oracle["per_type"].items():
            if scores["support"]:
                assert scores["f1"] == 1.0, (split, entity_type)
    for mode in ("char", "wordpiece"):
        roundtrip = load_json(workdir / f"results/roundtrip/dev.{mode}.json")
        assert roundtrip["lost_by_reason"]["other"] == 0
        if mode == "char":
            assert roundtrip["lost"] == 0, roundtrip["lost_by_reason"]


def test_the_model_run_is_scored_and_delivered(shape_run) -> None:
    shape, workdir = shape_run
    types = set(ODD_TYPES if shape == "odd_types" else ["名.称-2"])
    dev = lines(workdir / "results/data/dev.jsonl")
    scores = load_json(workdir / f"results/{shape}/dev_scores.json")
    assert scores == load_json(workdir / "results/dev_scores.json")["experiments"][shape]
    assert scores["text_mismatch_lines"] == 0 and scores["n_records"] == len(dev)
    assert 0.0 <= scores["micro"]["f1"] <= 1.0
    assert types <= set(scores["per_type"]) and not scores["extra_types"]
    for split in ("dev", "test"):
        check = load_json(workdir / f"results/{shape}/textcheck/{split}.json")
        assert check["mismatched_lines"] == 0
        source = lines(workdir / f"results/data/{split}.jsonl")
        predicted = lines(workdir / f"results/{shape}/predictions/{split}.json")
        assert [r["text"] for r in predicted] == [r["text"] for r in source]
        assert {t for r in predicted for t in r.get("label", {})} <= types
    test = lines(SHAPES / shape / "test.json")
    if TEST_LABELLED[shape]:  # no ids: line numbers
        test_scores = load_json(workdir / f"results/{shape}/test_scores.json")
        assert test_scores["text_mismatch_lines"] == 0
        assert test_scores["n_records"] == len(test)
        assert not (workdir / "results/submission").exists()
    else:
        submitted = lines(workdir / f"results/submission/{shape}/cluener_predict.json")
        assert [r["id"] for r in submitted] == [r["id"] for r in test]
    header = (workdir / "results/leaderboard.tsv").read_text("utf-8").splitlines()[0]
    assert {f"f1_{t}" for t in types} <= set(header.split("\t"))
    head = load_json(workdir / f"results/{shape}/model/nerflow_head.json")
    assert set(head["labels"]) - {"O"} == {
        f"{p}-{t}" for t in types for p in SCHEMES[shape] if p != "O"
    }
    for figure in ("per_type_f1.svg", "confusion.svg", "training_curves.svg"):
        assert (workdir / f"results/{shape}/plots/{figure}").stat().st_size > 0


def test_a_data_set_without_dev_stops_with_a_clear_message(tmp_path: Path) -> None:
    config = shape_config("no_dev", splits=("train", "test"))
    config["experiments"] = {"tiny": EXPERIMENTS["one_type"]}
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", check=False)
    assert result.returncode != 0
    screen = result.stdout + result.stderr
    assert "config data.dev is missing" in screen
    assert "needs a labelled dev split" in screen and "config/README.md" in screen
