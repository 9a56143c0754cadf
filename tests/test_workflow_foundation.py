"""Integration: the validation -> tagging -> round-trip -> oracle -> scoring DAG on fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from workflow_helpers import (
    FIXTURES,
    copy_workflow,
    load_json,
    planned_rules,
    snakemake,
    tiny_data_config,
    write_config,
)

FOUNDATION_TARGETS = (
    "results/oracle/dev_scores.json",
    "results/roundtrip/train.char.json",
    "results/roundtrip/dev.char.json",
    "results/roundtrip/dev.wordpiece.json",
    "results/tags/train.BIOS.tsv",
    "results/data/test.jsonl",
)


@pytest.fixture(scope="module")
def foundation_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("foundation"))
    write_config(workdir, tiny_data_config())
    snakemake(workdir, "--cores", "2", *FOUNDATION_TARGETS, snakefile=workdir / "Snakefile")
    return workdir


def test_oracle_scores_are_perfect_in_char_mode(foundation_run: Path) -> None:
    scores = load_json(foundation_run / "results/oracle/dev_scores.json")
    gold_entities = load_json(foundation_run / "results/data/dev.report.json")["entities"]
    assert scores["n_records"] == 16
    assert scores["micro"]["tp"] == gold_entities > 0
    assert scores["micro"]["f1"] == 1.0
    assert scores["clue_macro_f1"] == 1.0
    assert scores["seqeval_micro_f1"] == pytest.approx(1.0)
    assert scores["text_mismatch_lines"] == 0


def test_roundtrip_reports(foundation_run: Path) -> None:
    for split in ("train", "dev"):
        report = load_json(foundation_run / f"results/roundtrip/{split}.char.json")
        assert report["restored_exactly"] == report["spans_total"] > 0
    wordpiece = load_json(foundation_run / "results/roundtrip/dev.wordpiece.json")
    # The fixture has entities inside ASCII runs (ac米兰, CS1.6, Tom): WordPiece on a char
    # vocabulary cannot represent all of them, and the loss is counted, not hidden.
    assert wordpiece["lost"] == sum(wordpiece["lost_by_reason"].values())
    assert wordpiece["restored_exactly"] + wordpiece["lost"] == wordpiece["spans_total"]


def test_outputs_carry_provenance(foundation_run: Path) -> None:
    meta = load_json(foundation_run / "results/oracle/dev_scores.json.meta.json")
    assert meta["stage"] == "score"
    assert len(meta["code"]["fingerprint"]) == 16
    assert "nerflow.evaluation.scoring" in meta["code"]["modules"]
    assert meta["libraries"]["snakemake"]
    assert meta["output"]["sha256"]
    assert any(path.endswith("predictions/dev.json") for path in meta["inputs"])


def test_tag_file_lists_every_character(foundation_run: Path) -> None:
    blocks = (foundation_run / "results/tags/train.BIOS.tsv").read_text("utf-8").split("\n\n")
    first = [line.split("\t") for line in blocks[0].splitlines()]
    train_first = json.loads((FIXTURES / "tiny/train.json").read_text("utf-8").splitlines()[0])
    assert "".join(char for char, _ in first) == train_first["text"]
    assert first[0][1] == "B-company"


def test_nothing_to_do_after_a_run(foundation_run: Path) -> None:
    assert (
        planned_rules(foundation_run, *FOUNDATION_TARGETS, snakefile=foundation_run / "Snakefile")
        == []
    )


def test_editing_package_code_reruns_exactly_its_stage(foundation_run: Path) -> None:
    scoring = foundation_run / "src/nerflow/evaluation/scoring.py"
    original = scoring.read_text("utf-8")
    try:
        scoring.write_text(original + "\n# an edit\n", encoding="utf-8")
        rules = planned_rules(
            foundation_run, *FOUNDATION_TARGETS, snakefile=foundation_run / "Snakefile"
        )
        assert rules == ["score"]
    finally:
        scoring.write_text(original, encoding="utf-8")


def test_invalid_input_fails_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad_train.json"
    good = (FIXTURES / "tiny/train.json").read_text("utf-8").splitlines()
    bad.write_text(
        "\n".join(
            good[:2]
            + ['{"text": "北京", "label": {"address": {"北京": [[0, 2]]}}}', "not json"]
            + good[2:]
        )
        + "\n",
        encoding="utf-8",
    )
    config = tiny_data_config()
    config["data"]["train"] = str(bad)
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--cores", "1", "results/data/train.jsonl", check=False)
    assert result.returncode != 0
    log = (tmp_path / "logs/validate/train.log").read_text("utf-8")
    assert f"{bad}:3:" in log and f"{bad}:4:" in log

    config["validation"] = {"on_invalid": "skip"}
    write_config(tmp_path, config)
    snakemake(tmp_path, "--cores", "1", "results/data/train.jsonl")
    report = load_json(tmp_path / "results/data/train.report.json")
    assert report["rejected"] == 2
    assert report["records"] == len(good)
    rejected = (tmp_path / "results/data/train.rejected.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["line"] for line in rejected] == [3, 4]
