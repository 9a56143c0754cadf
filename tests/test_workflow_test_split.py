"""Integration: a labelled test split without ids (Resume/Weibo/MSRA style) is scored,
text-checked and reported next to dev; dev alone selects; no CLUENER submission."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from workflow_helpers import FIXTURES, load_json, snakemake, write_config

EXPERIMENT = {
    "encoder": "scratch",
    "scratch": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64},
    "head": "crf",
    "max_len": 64,
    "train": {"epochs": 1, "batch_size": 8, "lr": 5.0e-3, "head_lr": 5.0e-2},
}


@pytest.fixture(scope="module")
def labelled_test_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("labelled_test")
    lines = (FIXTURES / "tiny" / "dev.json").read_text("utf-8").splitlines()
    test = workdir / "test_labelled.json"
    test.write_text(
        "".join(
            json.dumps({k: v for k, v in json.loads(line).items() if k != "id"}, ensure_ascii=False)
            + "\n"
            for line in reversed(lines)
        ),
        encoding="utf-8",
    )
    data = {split: str(FIXTURES / "tiny" / f"{split}.json") for split in ("train", "dev")}
    write_config(
        workdir, {"data": {**data, "test": str(test)}, "experiments": {"tiny": EXPERIMENT}}
    )
    snakemake(workdir, "--cores", "2")
    return workdir


def test_labelled_test_split_is_scored_and_text_checked(labelled_test_run: Path) -> None:
    run = labelled_test_run
    records = [
        json.loads(line) for line in (run / "results/data/test.jsonl").open(encoding="utf-8")
    ]
    assert [record["id"] for record in records] == list(range(16))  # stable line ids
    assert all(record["label"] is not None for record in records)
    scores = load_json(run / "results/tiny/test_scores.json")
    assert scores["n_records"] == 16 and scores["text_mismatch_lines"] == 0
    assert load_json(run / "results/tiny/textcheck/test.json")["mismatched_lines"] == 0
    assert load_json(run / "results/oracle/test_scores.json")["micro"]["f1"] == 1.0
    table = load_json(run / "results/dev_scores.json")
    assert table["test"]["tiny"] == scores
    assert table["experiments"]["tiny"] == load_json(run / "results/tiny/dev_scores.json")
    assert not (run / "results/submission").exists()


def test_leaderboard_and_model_card_show_test_next_to_dev(labelled_test_run: Path) -> None:
    run = labelled_test_run
    with open(run / "results/leaderboard.tsv", encoding="utf-8", newline="") as handle:
        rows = {row["experiment"]: row for row in csv.DictReader(handle, delimiter="\t")}
    test_f1 = load_json(run / "results/tiny/test_scores.json")["micro"]["f1"]
    assert rows["tiny"]["test_micro_f1"] == f"{test_f1:.4f}"
    assert rows["oracle"]["test_micro_f1"] == "1.0000"
    card = (run / "results/tiny/model/README.md").read_text("utf-8")
    assert "split: test" in card
    # dev selected the epoch: the training log never mentions test
    assert "test" not in (run / "results/tiny/train_log.jsonl").read_text("utf-8")
