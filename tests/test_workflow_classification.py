"""The classification task's real DAG (``task: classification``) on small fixtures in a
temporary directory: the ChnSentiCorp-shaped TSV fixture with a linear and a neural run,
then data sets that differ by config alone (other columns, CSV, JSON lines, ten Chinese
class names, a 2:1 imbalance, a BOM inside a text) and a bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from workflow_helpers import FIXTURES, load_json, planned_rules, snakemake, write_config

from nerflow.classification.examples import read_examples
from nerflow.classification.scoring import read_predictions, score_split

RESULTS = "results/classification"
TINY_BILSTM = {
    "kind": "neural",
    "encoder": "bilstm",
    "max_len": 24,
    "stride": 6,
    "bilstm": {"embedding_dim": 16, "hidden": 16},
    "train": {"epochs": 2, "lr": 0.01, "head_lr": 0.01, "batch_size": 8, "device": "cpu"},
}


def classification_config(data: dict, experiments: dict, **block: object) -> dict:
    return {
        "task": "classification",
        "classification": {"data": data, "experiments": experiments, **block},
    }


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("sentiment")
    data = {
        split: str(FIXTURES / "sentiment" / f"{split}.tsv") for split in ("train", "dev", "test")
    }
    experiments = {"tfidf_lr": {"kind": "linear"}, "bilstm_mean": TINY_BILSTM}
    ensembles = {"mean2": {"members": ["tfidf_lr", "bilstm_mean"]}}
    mine = workdir / "mine.jsonl"
    mine.write_text(
        '{"text": "房间干净，服务很好", "source": "app"}\n{"text": "隔音很差，失望"}\n', "utf-8"
    )
    annotate = {"run": "mean2", "files": {"mine": str(mine)}}
    write_config(
        workdir,
        classification_config(data, experiments, ensembles=ensembles, annotate=annotate),
    )
    snakemake(workdir, "--cores", "2")
    return workdir


def test_every_run_is_scored_on_dev_and_the_labelled_test(sentiment_run: Path) -> None:
    results = sentiment_run / RESULTS
    with open(results / "leaderboard.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert sorted(row["run"] for row in rows) == ["bilstm_mean", "mean2", "tfidf_lr"]
    assert float(rows[0]["dev_accuracy"]) >= float(rows[1]["dev_accuracy"])
    labels = load_json(results / "data" / "labels.json")["labels"]
    assert labels == ["0", "1"]
    for run in ("tfidf_lr", "bilstm_mean", "mean2"):
        for split in ("dev", "test"):
            gold = read_examples(results / "data" / f"{split}.jsonl")
            predicted = read_predictions(results / run / "predictions" / f"{split}.jsonl")
            assert [p["text"] for p in predicted] == [x.text for x in gold]
            scores = load_json(results / run / f"{split}_scores.json")
            train = read_examples(results / "data" / "train.jsonl")
            assert scores == score_split(gold, predicted, labels, train)
            overlap = scores["train_overlap"]
            assert overlap["seen_in_train"]["examples"] + overlap["unseen"]["examples"] == len(gold)
            row = next(row for row in rows if row["run"] == run)
            assert float(row[f"{split}_accuracy"]) == scores["accuracy"]
    assert (results / "bilstm_mean" / "model" / "classifier.json").is_file()
    ensemble = next(row for row in rows if row["run"] == "mean2")
    members = [next(r for r in rows if r["run"] == m) for m in ("tfidf_lr", "bilstm_mean")]
    assert float(ensemble["train_minutes"]) == pytest.approx(
        sum(float(r["train_minutes"]) for r in members), abs=1e-3
    )


def test_an_ensemble_averages_its_members_probabilities(sentiment_run: Path) -> None:
    results = sentiment_run / RESULTS
    members = [
        read_predictions(results / run / "predictions/test.jsonl")
        for run in ("tfidf_lr", "bilstm_mean")
    ]
    averaged = read_predictions(results / "mean2/predictions/test.jsonl")
    for line, a, b in zip(averaged, *members, strict=True):
        for label, p in line["probabilities"].items():
            assert p == pytest.approx(
                (a["probabilities"][label] + b["probabilities"][label]) / 2, abs=2e-6
            )
        assert line["label"] == max(line["probabilities"], key=line["probabilities"].get)
    provenance = load_json(results / "bilstm_mean" / "train_summary.json.meta.json")
    assert provenance["seed"] == {"train": 42}


def test_the_long_dev_review_is_predicted_whole(sentiment_run: Path) -> None:
    predicted = read_predictions(sentiment_run / RESULTS / "bilstm_mean/predictions/dev.jsonl")
    longest = max(predicted, key=lambda p: len(p["text"]))
    assert len(longest["text"]) > 24 * 4  # several windows of the neural run


def test_split_overlap_and_class_balance_are_reported(sentiment_run: Path) -> None:
    overlap = load_json(sentiment_run / RESULTS / "data" / "overlap.json")
    assert set(overlap["pairs"]) == {"train&dev", "train&test", "dev&test"}
    report = load_json(sentiment_run / RESULTS / "data" / "train.report.json")
    assert report["class_counts"] == {"0": 20, "1": 20} and report["text_column"] == "text_a"


def test_a_second_run_has_nothing_to_do_and_ner_results_are_apart(sentiment_run: Path) -> None:
    assert planned_rules(sentiment_run) == []
    written = [p for p in (sentiment_run / "results").rglob("*") if p.is_file()]
    assert written and all(str(p.relative_to(sentiment_run)).startswith(RESULTS) for p in written)


def test_ten_chinese_classes_in_json_lines_with_a_bom_inside_a_text(tmp_path: Path) -> None:
    names = ["体育", "财经", "房产", "家居", "教育", "科技", "时尚", "时政", "游戏", "娱乐"]
    words = ["比赛", "股票", "楼盘", "装修", "考试", "芯片", "服装", "政策", "玩家", "明星"]
    rows = {
        split: [
            {
                "text": ("\ufeff" if i == 0 else "") + f"这是关于{words[k]}的第{i}条新闻{words[k]}",
                "label": names[k],
            }
            for k in range(10)
            for i in range(count)
        ]
        for split, count in (("train", 4), ("dev", 1))
    }
    data = {}
    for split, lines in rows.items():
        path = tmp_path / f"{split}.jsonl"
        path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
        data[split] = str(path)
    workdir = tmp_path / "run"
    write_config(workdir, classification_config(data, {"lin": {"kind": "linear", "C": 50.0}}))
    snakemake(workdir, "--cores", "2")
    assert load_json(workdir / RESULTS / "data/labels.json")["labels"] == sorted(names)
    predicted = read_predictions(workdir / RESULTS / "lin/predictions/dev.jsonl")
    assert predicted[0]["text"].startswith("\ufeff")  # kept as written
    assert load_json(workdir / RESULTS / "lin/dev_scores.json")["accuracy"] == 1.0


def test_csv_with_other_columns_and_an_imbalance(tmp_path: Path) -> None:
    """Columns named in config, quoted commas, a 2:1 imbalance trained with class weights."""
    positive = ["服务很好，房间干净", "屏幕清晰，很满意", "这本书写得真好", "早餐丰富，推荐"]
    negative = ["房间太小，隔音很差", "电池不耐用，失望"]
    data = {}
    for split, repeat in (("train", 4), ("dev", 1)):
        path = tmp_path / f"{split}.csv"
        with open(path, "w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["编号", "评论", "类别"])
            rows = [(t, "正面") for t in positive] * repeat + [
                (t, "负面") for t in negative
            ] * repeat
            writer.writerows((i, text, label) for i, (text, label) in enumerate(rows))
        data[split] = str(path)
    imbalanced = {**TINY_BILSTM, "train": {**TINY_BILSTM["train"], "class_weights": "balanced"}}
    workdir = tmp_path / "run"
    write_config(
        workdir,
        classification_config(
            data, {"weighted": imbalanced}, text_column="评论", label_column="类别"
        ),
    )
    snakemake(workdir, "--cores", "2")
    report = load_json(workdir / RESULTS / "data/train.report.json")
    assert report["class_counts"] == {"正面": 16, "负面": 8} and report["format"] == "csv"
    assert (workdir / RESULTS / "weighted/dev_scores.json").is_file()


def test_a_bad_line_stops_the_run_with_its_file_and_line(tmp_path: Path) -> None:
    train = tmp_path / "train.tsv"
    train.write_text("label\ttext\n1\t很好\n2\t这个标签没见过\n0\t\n", encoding="utf-8")
    dev = tmp_path / "dev.tsv"
    dev.write_text("label\ttext\n1\t好\n0\t差\n", encoding="utf-8")
    workdir = tmp_path / "run"
    write_config(
        workdir,
        classification_config(
            {"train": str(train), "dev": str(dev)}, {"lin": {"kind": "linear"}}, labels=["0", "1"]
        ),
    )
    result = snakemake(workdir, "--cores", "1", check=False)
    assert result.returncode != 0
    screen = result.stdout + result.stderr
    assert f"{train}:3: " in screen and "unknown" in screen
    assert f"{train}:4: " in screen
    log = (workdir / "logs/classification/validate_train.log").read_text("utf-8")
    assert f"{train}:3: " in log and f"{train}:4: " in log  # Snakemake removes failed outputs


def test_missing_data_files_stop_before_any_job(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    write_config(
        workdir,
        classification_config(
            {"train": str(tmp_path / "nope.tsv"), "dev": str(tmp_path / "nope2.tsv")},
            {"lin": {"kind": "linear"}},
        ),
    )
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert "no such file(s): train:" in result.stdout + result.stderr


def test_user_files_are_classified_by_the_ensemble(sentiment_run: Path) -> None:
    lines = [
        json.loads(line)
        for line in (sentiment_run / RESULTS / "mean2/annotated/mine.jsonl")
        .read_text("utf-8")
        .splitlines()
    ]
    assert [line["id"] for line in lines] == [0, 1] and lines[0]["source"] == "app"
    assert all(set(line["probabilities"]) == {"0", "1"} for line in lines)


def test_report_pages_and_the_snakemake_report(sentiment_run: Path) -> None:
    results = sentiment_run / RESULTS
    for run in ("tfidf_lr", "bilstm_mean", "mean2"):
        for name in ("per_class_f1.svg", "confusion.svg"):
            assert (results / run / "plots" / name).read_text("utf-8").startswith("<?xml")
        page = (results / run / "plots/errors.html").read_text("utf-8")
        errors = [
            json.loads(x)
            for x in (results / run / "dev_errors.jsonl").read_text("utf-8").splitlines()
        ]
        assert page.count("<tr>") == len(errors) + 1  # the header and one row per error
        assert [e["probability"] for e in errors] == sorted(
            (e["probability"] for e in errors), reverse=True
        )
    assert "<table>" in (results / "leaderboard.html").read_text("utf-8")
    snakemake(sentiment_run, "--report", "report.html")
    assert (sentiment_run / "report.html").stat().st_size > 10_000


def test_released_folders_carry_a_model_card(sentiment_run: Path) -> None:
    import yaml

    for run in ("tfidf_lr", "bilstm_mean"):
        card = (sentiment_run / RESULTS / run / "model/README.md").read_text("utf-8")
        matter = yaml.safe_load(card.split("---")[1])
        assert matter["license"] == "apache-2.0" and matter["datasets"] == ["sentiment"]
        metrics = matter["model-index"][0]["results"][0]["metrics"]
        dev = load_json(sentiment_run / RESULTS / run / "dev_scores.json")
        assert metrics[0] == {
            "type": "accuracy",
            "value": round(dev["accuracy"], 4),
            "name": "accuracy",
        }
        assert "train.tsv" in card and str(FIXTURES) not in card  # data by name, not path
        released = sentiment_run / RESULTS / run / "model"
        assert not any(p.name.startswith(".") for p in released.iterdir())  # no timestamp file
        assert (sentiment_run / RESULTS / run / "model.meta.json").is_file()
