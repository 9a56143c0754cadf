"""Integration: the whole DAG with tiny scratch encoders (both heads) and a local encoder."""

from __future__ import annotations

import json
import zipfile
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

TINY_SCRATCH = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64}
TINY_TRAIN = {"epochs": 2, "batch_size": 8, "lr": 5.0e-3, "head_lr": 5.0e-2}
TINY_PRETRAINING = {
    "tiny_mlm": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "epochs": 2}
}


def experiments(local_encoder: Path) -> dict:
    return {
        "tiny_crf": {
            "encoder": "scratch",
            "scratch": TINY_SCRATCH,
            "head": "crf",
            "max_len": 64,
            "train": TINY_TRAIN,
        },
        # max_len 16 is shorter than most fixture texts: prediction needs sliding windows.
        "tiny_softmax": {
            "encoder": "scratch",
            "scratch": TINY_SCRATCH,
            "head": "softmax",
            "max_len": 16,
            "stride": 4,
            "train": TINY_TRAIN,
        },
        "bilstm_features": {
            "encoder": "bilstm",
            "bilstm": {"embedding_dim": 16, "hidden": 16},
            "features": {"bigram": True, "lexicon": True, "lexicon_words": True},
            "head": "crf",
            "max_len": 16,
            "stride": 4,
            "train": TINY_TRAIN,
        },
        # span head + train-entity gazetteer + weight averaging, with sliding windows
        "bilstm_span": {
            "encoder": "bilstm",
            "bilstm": {"embedding_dim": 16, "hidden": 16},
            "features": {"bigram": True, "gazetteer": True},
            "head": "span",
            "span_head_size": 8,
            "max_len": 16,
            "stride": 4,
            "train": dict(TINY_TRAIN, epochs=3, ema_decay=0.5),
        },
        "mlm_pretrained": {
            "encoder": "pretrained:tiny_mlm",
            "head": "softmax",
            "max_len": 64,
            "train": dict(TINY_TRAIN, epochs=1),
        },
        "local_encoder": {
            "encoder": str(local_encoder),
            "head": "crf",
            "max_len": 64,
            "train": dict(TINY_TRAIN, epochs=1),
        },
    }


ENSEMBLES = {"vote3": {"members": ["tiny_crf", "bilstm_features", "bilstm_span"]}}
USER_TEXTS = [
    "叶老桂在北京上海浙商银行",
    "米兰 国际\t足球俱乐部",
    "北京上海浙商银行叶老桂博士认为米兰国际足球俱乐部" * 4,  # longer than max_len 16
]


@pytest.fixture(scope="module")
def local_encoder(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """A tiny random BERT saved with save_pretrained: the hub/local-folder encoder path."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("local_bert")
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, local_encoder: Path) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("training"))
    texts = workdir / "my_texts.txt"
    texts.write_text("\n".join([*USER_TEXTS[:2], "", *USER_TEXTS[2:]]) + "\n", encoding="utf-8")
    write_config(
        workdir,
        tiny_data_config(
            experiments=experiments(local_encoder),
            pretraining=TINY_PRETRAINING,
            ensembles=ENSEMBLES,
            annotate={"run": "vote3", "files": {"notes": str(texts)}},
        ),
    )
    snakemake(workdir, "--cores", "2", "--resources", "gpu=1", snakefile=workdir / "Snakefile")
    return workdir


def test_every_experiment_is_scored_side_by_side(trained: Path) -> None:
    table = load_json(trained / "results/dev_scores.json")["experiments"]
    assert sorted(table) == [
        "bilstm_features",
        "bilstm_span",
        "local_encoder",
        "mlm_pretrained",
        "tiny_crf",
        "tiny_softmax",
        "vote3",
    ]
    for scores in table.values():
        assert scores["text_mismatch_lines"] == 0
        assert scores["n_records"] == 16
        assert 0.0 <= scores["micro"]["f1"] <= 1.0
        if scores["seqeval_excluded_records"] == 0:  # none with overlapping predictions
            assert scores["seqeval_micro_f1"] == pytest.approx(scores["micro"]["f1"])
    # Two epochs on 48 templated sentences: the CRF model must have learnt something.
    assert table["tiny_crf"]["micro"]["tp"] > 0


def test_training_log_and_summary(trained: Path) -> None:
    lines = (trained / "results/tiny_crf/train_log.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 2
    # the job log: plain lines of progress, no bar fragments, no third-party bars
    job_log = (trained / "logs/tiny_crf/train.log").read_text("utf-8")
    assert "\r" not in job_log and "train 100% (" in job_log
    assert "Loading weights" not in job_log
    for line in map(json.loads, lines):
        for key in (
            "epoch",
            "step",
            "loss",
            "dev_micro_f1",
            "dev_macro_f1",
            "lr",
            "sentences_per_s",
        ):
            assert key in line
    summary = load_json(trained / "results/tiny_crf/train_summary.json")
    assert summary["params"] > 0 and summary["device"] == "cpu"
    assert not (trained / "results/tiny_crf/checkpoints").exists()


def test_saved_model_is_a_standard_folder(trained: Path) -> None:
    from transformers import AutoModelForTokenClassification

    from nerflow.models.head import pipeline_label

    model = AutoModelForTokenClassification.from_pretrained(str(trained / "results/tiny_crf/model"))
    head = load_json(trained / "results/tiny_crf/model/nerflow_head.json")
    assert model.config.id2label[0] == "O"
    assert head["head"] == "crf" and head["labels"][0] == "O"
    # pipeline names in id2label (S- -> B-, E- -> I-), the real tags in label2id
    assert [model.config.id2label[i] for i in range(len(head["labels"]))] == [
        pipeline_label(label) for label in head["labels"]
    ]
    assert model.config.label2id == {label: i for i, label in enumerate(head["labels"])}


def test_submission_file_and_zip(trained: Path) -> None:
    lines = (trained / "results/submission/tiny_crf/cluener_predict.json").read_text("utf-8")
    records = [json.loads(line) for line in lines.splitlines()]
    assert [record["id"] for record in records] == list(range(12))
    assert all(set(record) == {"id", "label"} for record in records)
    with zipfile.ZipFile(trained / "results/submission/tiny_crf.zip") as archive:
        assert archive.namelist() == ["cluener_predict.json"]
        assert archive.read("cluener_predict.json").decode("utf-8") == lines


def test_predictions_copy_the_source_text(trained: Path) -> None:
    source = (trained / "results/data/dev.jsonl").read_text("utf-8").splitlines()
    predicted = (trained / "results/tiny_softmax/predictions/dev.json").read_text("utf-8")
    assert [json.loads(line)["text"] for line in predicted.splitlines()] == [
        json.loads(line)["text"] for line in source
    ]


def test_nothing_to_do_then_a_train_change_reruns_only_training_onwards(
    trained: Path, local_encoder: Path
) -> None:
    snakefile = trained / "Snakefile"
    assert planned_rules(trained, snakefile=snakefile) == []
    changed = experiments(local_encoder)
    changed["tiny_crf"]["train"] = dict(TINY_TRAIN, lr=1.0e-3)
    write_config(trained, tiny_data_config(experiments=changed, pretraining=TINY_PRETRAINING))
    rules = planned_rules(trained, snakefile=snakefile)
    assert "train" in rules and "predict" in rules and "score" in rules
    assert not {"validate_split", "char_tags", "tokenizer", "tensor_cache"} & set(rules)


def test_mlm_pretraining_never_reads_dev_and_feeds_the_encoder(trained: Path) -> None:
    import torch
    from transformers import AutoModelForTokenClassification

    meta = load_json(trained / "results/pretrain/tiny_mlm/model.meta.json")
    assert sorted(Path(path).name for path in meta["inputs"] if path.endswith(".jsonl")) == [
        "test.jsonl",
        "train.jsonl",
    ]
    pretrained = AutoModelForTokenClassification.from_pretrained(
        str(trained / "results/pretrain/tiny_mlm/model")
    )
    head = load_json(trained / "results/mlm_pretrained/model/nerflow_head.json")
    assert head["head"] == "softmax"
    fine_tuned = AutoModelForTokenClassification.from_pretrained(
        str(trained / "results/mlm_pretrained/model")
    )
    # Fine-tuning starts from the pretrained embeddings (same vocabulary and shape).
    assert torch.equal(
        torch.tensor(pretrained.config.vocab_size), torch.tensor(fine_tuned.config.vocab_size)
    )
    assert (trained / "results/pretrain/tiny_mlm/pretrain_log.jsonl").stat().st_size > 0


def test_bilstm_model_folder_carries_its_feature_assets(trained: Path) -> None:
    from nerflow.models.folder import load_model

    model, _tokenizer, meta = load_model(trained / "results/bilstm_features/model", "cpu")
    assert meta.emitter == "bilstm" and model.featurizer is not None
    assert (shared_inputs(trained, "bilstm_features")["tokenizer"] / "bigrams.json").exists()
    assert (trained / "results/bilstm_features/model/bigrams.json").exists()  # its own copy


def test_experiments_share_the_tokenizer_folders_and_caches_they_agree_on(trained: Path) -> None:
    """From-scratch encoders without features (and the oracle) share one character
    vocabulary; a cache is shared only with the same windows, so not here."""
    inputs = {name: shared_inputs(trained, name) for name in experiments(Path("unused"))}
    scratch = inputs["tiny_crf"]["tokenizer"]
    assert inputs["tiny_softmax"]["tokenizer"] == scratch
    oracle = load_json(trained / "results/oracle/predictions/dev.json.meta.json")["inputs"]
    assert str(scratch.relative_to(trained)) in oracle
    assert len({found["tokenizer"] for found in inputs.values()}) == 5
    assert len({found["train.pt"] for found in inputs.values()}) == 6


def test_span_head_experiment_with_gazetteer(trained: Path) -> None:
    from nerflow.models.folder import load_model

    model, _tokenizer, meta = load_model(trained / "results/bilstm_span/model", "cpu")
    assert meta.head == "span" and meta.head_settings["span_head_size"] == 8
    assert model.featurizer is not None and model.featurizer.part("gazetteer").gazetteer is not None
    assert (shared_inputs(trained, "bilstm_span")["tokenizer"] / "gazetteer.json").exists()
    summary = load_json(trained / "results/bilstm_span/train_summary.json")
    assert summary["epochs_run"] == 3
    predictions = (trained / "results/bilstm_span/predictions/dev.json").read_text("utf-8")
    assert len(predictions.splitlines()) == 16


def test_ensemble_votes_over_its_members(trained: Path) -> None:
    from nerflow.data.cluener import read_records
    from nerflow.inference.ensemble import vote

    members = ENSEMBLES["vote3"]["members"]
    for split in ("dev", "test"):
        expected = vote(
            [read_records(trained / f"results/{m}/predictions/{split}.json") for m in members]
        )
        got = read_records(trained / f"results/vote3/predictions/{split}.json")
        assert [(r.id, r.text, r.spans) for r in got] == [(r.id, r.text, r.spans) for r in expected]
    summary = load_json(trained / "results/vote3/train_summary.json")
    member_minutes = [
        load_json(trained / f"results/{m}/train_summary.json")["train_minutes"] for m in members
    ]
    assert summary["train_minutes"] == pytest.approx(sum(member_minutes), abs=1e-3)
    assert [m["name"] for m in summary["members"]] == members
    assert (trained / "results/submission/vote3.zip").exists()
    board = (trained / "results/leaderboard.tsv").read_text("utf-8")
    row = next(line for line in board.splitlines() if line.split("\t")[1] == "vote3")
    assert "\tensemble\t" in row and "vote 2/3: tiny_crf, bilstm_features, bilstm_span" in row


def test_annotate_tags_user_files_with_the_configured_run(trained: Path) -> None:
    from nerflow.data.cluener import read_records
    from nerflow.data.records import Record
    from nerflow.inference.ensemble import vote
    from nerflow.inference.predict import Predictor

    out = read_records(trained / "results/vote3/annotated/notes.jsonl")
    assert [(r.id, r.text) for r in out] == [
        (0, USER_TEXTS[0]),
        (1, USER_TEXTS[1]),
        (3, USER_TEXTS[2]),
    ]
    members = ENSEMBLES["vote3"]["members"]
    inputs = [Record(r.id, r.text) for r in out]
    expected = vote(
        [
            Predictor.load(trained / f"results/{m}/trained/model", "cpu").predict(inputs)
            for m in members
        ]
    )
    assert [r.spans for r in out] == [r.spans for r in expected]
    check = load_json(trained / "results/vote3/annotated/notes.textcheck.json")
    assert check["mismatched_lines"] == 0 and check["records_checked"] == 3


def test_model_folder_has_a_model_card_with_the_dev_scores(trained: Path) -> None:
    import yaml

    for run in ("tiny_crf", "bilstm_span"):
        folder = trained / f"results/{run}/model"
        card = (folder / "README.md").read_text("utf-8")
        front = yaml.safe_load(card.split("---")[1])
        dev = load_json(trained / f"results/{run}/dev_scores.json")
        metrics = front["model-index"][0]["results"][0]["metrics"]
        f1 = next(m["value"] for m in metrics if m["type"] == "f1")
        assert f1 == pytest.approx(dev["micro"]["f1"], abs=1e-4)
        summary = load_json(trained / f"results/{run}/train_summary.json")
        assert summary["hardware"] in card
        trained_files = sorted(
            p.name
            for p in (trained / f"results/{run}/trained/model").iterdir()
            if not p.name.startswith(".")
        )
        # every file of the trained folder and the card; nothing hidden (no Snakemake
        # timestamp: the card is the declared output, not the folder)
        assert sorted(p.name for p in folder.iterdir()) == sorted([*trained_files, "README.md"])
        assert (trained / f"results/{run}/model.meta.json").is_file()  # provenance beside it
    assert "nerflow predict" in (trained / "results/bilstm_span/model/README.md").read_text("utf-8")


def test_cli_predict_equals_the_predict_rule(trained: Path) -> None:
    import subprocess
    import sys

    for run in ("tiny_softmax", "bilstm_span"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "nerflow",
                "predict",
                str(trained / f"results/{run}/model"),
                str(trained / "results/data/dev.jsonl"),
                "--device",
                "cpu",
            ],
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
        )
        rule_output = (trained / f"results/{run}/predictions/dev.json").read_text("utf-8")
        assert result.stdout == rule_output


def test_stage_costs_of_the_run(trained: Path, tmp_path: Path, monkeypatch) -> None:
    """bench/stage_costs.py on the completed run: every benchmarked job in the table, each
    with the start-up its log recorded (less than the job's own seconds)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "bench"))
    import stage_costs

    out = tmp_path / "stage_costs.json"
    assert stage_costs.main([str(trained), "--json-out", str(out)]) == 0
    result = load_json(out)
    planned = stage_costs.planned_jobs(trained, [])
    assert result["summary"]["jobs"] == sum(bool(job["benchmark"]) for job in planned)
    assert result["summary"]["jobs_without_startup"] == 0
    for job in result["jobs"]:
        assert 0 < job["startup_s"] < job["seconds"] + 1.0, job
    assert {"train", "predict", "score", "validate_split"} <= set(result["rules"])
    assert result["rules"]["train"]["jobs"] == 6 and result["rules"]["train"]["max_rss_mib"] > 0
    total = result["summary"]
    assert 0 < total["startup_share_of_job_time"] < 1 and total["run_wall_s"] > 0
    assert "| train |" in result["table"]


def test_the_export_rule_writes_a_folder_that_predicts_as_the_run(trained: Path) -> None:
    pytest.importorskip(
        "onnxscript", reason='the ONNX exporter needs pip install "nerflow[export]"'
    )
    from nerflow.data.cluener import read_records
    from nerflow.evaluation.scoring import score
    from nerflow.inference.onnx_predictor import OnnxPredictor

    run = "bilstm_span"  # features, span head, sliding windows
    snakemake(trained, f"results/{run}/onnx", "--cores", "2", snakefile=trained / "Snakefile")
    dev = read_records(trained / "results/data/dev.jsonl")
    predicted = OnnxPredictor.load(trained / f"results/{run}/onnx").predict(dev)
    expected = read_records(trained / f"results/{run}/predictions/dev.json")
    assert [r.spans for r in predicted] == [r.spans for r in expected]
    assert (trained / f"logs/{run}/export_onnx.log").read_text(encoding="utf-8").count("same spans")
    # export_quantize: only the export reruns (its params changed), into an int8 folder
    model_file = next((trained / f"results/{run}/trained/model").iterdir())
    trained_at = model_file.stat().st_mtime_ns
    config = ("--config", "export_quantize=int8")
    snakemake(
        trained, f"results/{run}/onnx", "--cores", "2", *config, snakefile=trained / "Snakefile"
    )
    manifest = load_json(trained / f"results/{run}/onnx/nerflow_export.json")
    assert manifest["quantization"] == "int8" and manifest["quantized_ops"]["LSTM"] > 0
    assert model_file.stat().st_mtime_ns == trained_at
    quantized = OnnxPredictor.load(trained / f"results/{run}/onnx").predict(dev)
    types = sorted({span.label for record in expected for span in record.spans})
    agreement = score(expected, quantized, types)["micro"]["f1"]  # the run's spans as the gold
    assert agreement >= 0.9, f"int8 spans score F1 {agreement:.3f} against the run's"
