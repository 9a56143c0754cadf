"""The classification task's library: the linear model and its folder, scores, pooling
over windows, the neural classifier (training, resume, folder), the config block, the task
registry and ``nerflow predict`` on classifier folders."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from nerflow.classification.config import read_config
from nerflow.classification.examples import Example
from nerflow.classification.folder import ClassifierFolderError, read_meta
from nerflow.classification.linear import LinearSettings, fit_linear
from nerflow.classification.neural import PooledClassifier, encode_texts, text_scores
from nerflow.classification.predict import load_classifier, predict_examples
from nerflow.classification.scoring import PairingError, pair_labels, score_labels
from nerflow.classification.settings import NeuralSettings
from nerflow.classification.training import train_linear, train_neural
from nerflow.models.emitter import Emitter
from nerflow.section import ConfigError
from nerflow.tasks.registry import TaskError, task_of_config, task_of_folder
from nerflow.text.vocab import build_char_vocab, save_char_tokenizer

LABELS = ["差评", "好评"]  # Chinese class names
POSITIVE = ["服务很好，房间干净", "屏幕清晰，很满意", "这本书写得真好", "早餐丰富，推荐"]
NEGATIVE = ["房间太小，隔音很差", "电池不耐用，失望", "内容空洞，不推荐", "态度差，早餐难吃"]
TINY_NEURAL = {
    "encoder": "bilstm",
    "max_len": 16,
    "stride": 4,
    "bilstm": {"embedding_dim": 16, "hidden": 16},
    "train": {"epochs": 3, "lr": 0.01, "head_lr": 0.01, "batch_size": 4, "device": "cpu"},
}


def pairs(texts: list[str]) -> list[str]:
    return [a + "。" + b for a in texts for b in texts if a != b]


def data() -> tuple[list[Example], list[Example]]:
    """12 positive and 12 negative train texts, 4 dev texts of each."""
    rows = [(t, "好评") for t in pairs(POSITIVE)] + [(t, "差评") for t in pairs(NEGATIVE)]
    train = [Example(i, text, label) for i, (text, label) in enumerate(rows)]
    dev_rows = [(t + "！", "好评") for t in POSITIVE] + [(t + "！", "差评") for t in NEGATIVE]
    dev = [Example(i, text, label) for i, (text, label) in enumerate(dev_rows)]
    return train, dev


# --------------------------------------------------------------------------- linear


@pytest.mark.parametrize("weighting", ["tfidf", "nb"])
def test_linear_model_learns_and_its_folder_predicts_the_same(weighting, tmp_path) -> None:
    train, dev = data()
    settings = LinearSettings(weighting=weighting, C=10.0)
    summary = train_linear(settings, train, dev, LABELS, tmp_path / "model")
    assert summary["dev_accuracy"] == 1.0
    model = fit_linear([x.text for x in train], [x.label for x in train], LABELS, settings)
    loaded = load_classifier(tmp_path / "model")
    texts = [x.text for x in dev]
    np.testing.assert_allclose(loaded.probabilities(texts), model.probabilities(texts))
    assert read_meta(tmp_path / "model").kind == "linear"
    assert task_of_folder(tmp_path / "model").name == "classification"


def test_linear_probabilities_are_scikit_learns() -> None:
    """The arrays the folder keeps give exactly the regression's predict_proba."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train, dev = data()
    settings = LinearSettings(C=4.0)
    model = fit_linear([x.text for x in train], [x.label for x in train], LABELS, settings)
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    features = vectorizer.fit_transform([x.text for x in train])
    y = [LABELS.index(x.label) for x in train]
    reference = LogisticRegression(C=4.0, max_iter=3000).fit(features, y)
    expected = reference.predict_proba(vectorizer.transform([x.text for x in dev]))
    np.testing.assert_allclose(model.probabilities([x.text for x in dev]), expected, atol=1e-6)


def test_linear_many_classes_with_one_missing_from_train() -> None:
    names = [f"类别{i}" for i in range(10)]
    texts = [f"{'甲乙丙丁戊己庚辛壬癸'[i]}字 第{j}条" for i in range(9) for j in range(3)]
    labels = [names[i] for i in range(9) for _ in range(3)]
    for weighting in ("tfidf", "nb"):
        model = fit_linear(texts, labels, names, LinearSettings(weighting=weighting, C=50.0))
        probabilities = model.probabilities(["丙字 第9条"])
        assert probabilities.shape == (1, 10)
        assert names[int(probabilities.argmax())] == "类别2"
        assert probabilities[0, 9] < 1e-6  # never seen in train


# --------------------------------------------------------------------------- scores


def test_scores_per_class_confusion_and_pairing() -> None:
    gold = [Example(i, f"t{i}", label) for i, label in enumerate(["a", "a", "b", "c"])]
    predicted = [
        {"id": x.id, "text": x.text, "label": y} for x, y in zip(gold, "abbb", strict=True)
    ]
    scores = score_labels(*pair_labels(gold, predicted), ["a", "b", "c"])
    assert scores["accuracy"] == 0.5
    assert scores["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert scores["per_class"]["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": 0.666667,
        "support": 2,
    }
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0.0) / 3, abs=1e-6)
    with pytest.raises(PairingError, match="preds:2: id"):
        pair_labels(gold, [predicted[0], predicted[2], *predicted[2:]], "preds")
    with pytest.raises(PairingError, match="outside the label set"):
        score_labels(["a"], ["z"], ["a", "b"])


# --------------------------------------------------------------------------- pooling


class TokenScores(Emitter):
    """A stand-in emitter whose score of a token depends on its id alone."""

    kind = "token_scores"

    def __init__(self, vocab_size: int, n_outputs: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab_size, n_outputs)

    def forward(self, input_ids, attention_mask, **features):
        return self.table(input_ids)

    def head_parameters(self):
        return list(self.table.parameters())


def test_long_text_is_read_in_windows_and_pooled_not_truncated(tmp_path) -> None:
    text = "房间干净服务很好" * 10  # 80 characters, windows of 16 tokens
    tokenizer = save_char_tokenizer(build_char_vocab([text]), tmp_path / "tok")
    (encoded,) = encode_texts([text], tokenizer, None, "char", 16, 4)
    assert len(encoded.windows) > 5
    covered = {
        i for tok in encoded.windows for start, end in tok.offsets for i in range(start, end)
    }
    assert covered == set(range(len(text)))  # every character is read
    emitter = TokenScores(len(tokenizer), 2)
    tokens = torch.cat([torch.tensor(tok.input_ids) for tok in encoded.windows])
    for pooling, expected in (
        ("mean", emitter.table(tokens).mean(dim=0)),  # the mean over every window's tokens
        ("max", emitter.table(tokens).amax(dim=0)),
    ):
        model = PooledClassifier(emitter, LABELS, pooling)
        scores = text_scores(model, [encoded], tokenizer.pad_token_id, 3, "cpu")
        torch.testing.assert_close(scores[0], expected.detach())


def test_padding_does_not_change_pooled_scores(tmp_path) -> None:
    texts = ["好", "房间干净服务很好"]
    tokenizer = save_char_tokenizer(build_char_vocab(texts), tmp_path / "tok")
    encoded = encode_texts(texts, tokenizer, None, "char", 32, 4)
    torch.manual_seed(0)
    for pooling in ("mean", "max", "cls"):
        model = PooledClassifier(TokenScores(len(tokenizer), 2), LABELS, pooling)
        together = text_scores(model, encoded, tokenizer.pad_token_id, 2, "cpu")
        alone = torch.cat([text_scores(model, [e], 0, 1, "cpu") for e in encoded])
        torch.testing.assert_close(together, alone)


# --------------------------------------------------------------------------- neural


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"pooling": "max", "features": {"bigram": True, "bigram_min_freq": 1}},
        {
            "encoder": "scratch",
            "pooling": "cls",
            "scratch": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32},
        },
    ],
    ids=["bilstm_mean", "bilstm_bigram_max", "scratch_cls"],
)
def test_neural_classifier_trains_and_its_folder_predicts_the_same(changes, tmp_path) -> None:
    train, dev = data()
    settings = NeuralSettings.from_dict({**TINY_NEURAL, **changes})
    summary = train_neural(
        settings,
        train,
        dev,
        LABELS,
        tmp_path / "model",
        tmp_path / "log.jsonl",
        tmp_path / "work",
        stream=None,
    )
    assert summary["epochs_run"] == 3 and summary["stop_reason"] == "completed"
    assert not (tmp_path / "work").exists()
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(lines) == 3 and max(line["dev_accuracy"] for line in lines) == summary["best_metric"]
    classifier = load_classifier(tmp_path / "model", "cpu")
    predicted = predict_examples([classifier], dev)
    accuracy = np.mean([p["label"] == x.label for p, x in zip(predicted, dev, strict=True)])
    assert accuracy == pytest.approx(summary["best_metric"])
    assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-4 for p in predicted)


def test_a_killed_neural_run_resumes_to_the_same_weights(tmp_path, monkeypatch) -> None:
    """Killed after its first checkpoint, the run resumes from it and ends with the
    weights of a run never interrupted."""
    from nerflow.training import loop as loop_module

    train, dev = data()
    settings = NeuralSettings.from_dict(TINY_NEURAL)

    def run(name: str) -> dict:
        return train_neural(
            settings,
            train,
            dev,
            LABELS,
            tmp_path / name / "model",
            tmp_path / name / "log",
            tmp_path / name / "work",
            stream=None,
        )

    run("plain")
    original = loop_module.Loop.save_checkpoint

    def killed(self):
        original(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop_module.Loop, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        run("killed")
    monkeypatch.setattr(loop_module.Loop, "save_checkpoint", original)
    summary = run("killed")
    resumed = summary["resumed_from"]
    assert resumed["epoch"] == 1 and resumed["step_in_epoch"] == 0 and resumed["global_step"] > 0
    from safetensors.torch import load_file

    plain = load_file(tmp_path / "plain" / "model" / "bilstm.safetensors")
    resumed = load_file(tmp_path / "killed" / "model" / "bilstm.safetensors")
    assert plain.keys() == resumed.keys()
    for key in plain:
        torch.testing.assert_close(plain[key], resumed[key])


# --------------------------------------------------------------------------- config, registry


def test_config_errors_are_located_by_key_path() -> None:
    config = {
        "classification": {
            "data": {"train": "a", "dev": "b"},
            "experiments": {
                "lin": {"kind": "linear", "C": -1, "ngrams": 3},
                "nn": {"kind": "neural", "pooling": "first", "train": {"epochs": 0}},
                "windows": {"kind": "neural", "max_len": 32},
                "odd": {"kind": "svm"},
            },
            "run_experiments": ["nope"],
        }
    }
    with pytest.raises(ConfigError) as caught:
        read_config(config)
    text = str(caught.value)
    for expected in (
        "classification.experiments.lin.ngrams: unknown key",
        "classification.experiments.nn.pooling: 'first' is not one of",
        "classification.experiments.odd.kind: 'svm' is not one of",
        "classification.run_experiments: unknown experiments ['nope']",
        "classification.experiments.windows.stride: 64 must be below max_len - 2 = 30",
    ):
        assert expected in text


def test_task_registry() -> None:
    assert task_of_config({}).name == "ner"
    assert task_of_config({"task": "classification"}).rules == "classification.smk"
    with pytest.raises(TaskError, match="'pos' is not one of"):
        task_of_config({"task": "pos"})


def test_a_folder_of_no_task_is_refused(tmp_path) -> None:
    with pytest.raises(TaskError, match="not a nerflow model folder"):
        task_of_folder(tmp_path)
    (tmp_path / "classifier.json").write_text('{"task": "classification", "kind": "svm"}')
    with pytest.raises(ClassifierFolderError, match="kind 'svm'"):
        read_meta(tmp_path)


# --------------------------------------------------------------------------- command line


def test_nerflow_predict_classifies_texts(tmp_path) -> None:
    train, dev = data()
    train_linear(LinearSettings(C=10.0), train, dev, LABELS, tmp_path / "a")
    train_linear(LinearSettings(weighting="nb"), train, dev, LABELS, tmp_path / "b")
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"text": dev[0].text, "qid": 7}, ensure_ascii=False)
        + "\n"
        + json.dumps({"text": dev[-1].text}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    for folders in ([tmp_path / "a"], [tmp_path / "a", tmp_path / "b"]):
        result = subprocess.run(
            [sys.executable, "-m", "nerflow", "predict", *map(str, folders), str(source)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert [line["label"] for line in lines] == ["好评", "差评"]
        assert lines[0]["qid"] == 7 and lines[0]["id"] == 0
        assert set(lines[0]["probabilities"]) == set(LABELS)
    result = subprocess.run(
        [sys.executable, "-m", "nerflow", "predict", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    assert result.returncode != 0 and "not a nerflow model folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_transformer_cls_folder_is_a_transformers_sequence_classifier(tmp_path) -> None:
    """The folder loads with AutoModelForSequenceClassification, and the pipeline's
    probabilities are nerflow predict's (texts shorter than a window)."""
    from transformers import AutoModelForSequenceClassification, pipeline

    train, dev = data()
    settings = NeuralSettings.from_dict(
        {
            **TINY_NEURAL,
            "encoder": "scratch",
            "pooling": "cls",
            "max_len": 64,
            "scratch": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32},
        }
    )
    folder = tmp_path / "model"
    train_neural(
        settings, train, dev, LABELS, folder, tmp_path / "log", tmp_path / "w", stream=None
    )
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    assert [model.config.id2label[i] for i in range(2)] == LABELS
    ours = predict_examples([load_classifier(folder, "cpu")], dev)
    classify = pipeline("text-classification", model=str(folder), device="cpu", top_k=None)
    for line, theirs in zip(ours, classify([x.text for x in dev], batch_size=4), strict=True):
        assert max(theirs, key=lambda x: x["score"])["label"] == line["label"]
        for item in theirs:
            assert item["score"] == pytest.approx(line["probabilities"][item["label"]], abs=1e-5)


def test_scores_apart_on_texts_also_in_train() -> None:
    from nerflow.classification.scoring import score_split

    train = [Example(0, " 房间干净 ", "好评"), Example(1, "失望", "差评")]
    gold = [Example(0, "房间干净", "好评"), Example(1, "很差", "差评"), Example(2, "失望", "差评")]
    guesses = ["好评", "好评", "差评"]
    predicted = [
        {"id": x.id, "text": x.text, "label": y} for x, y in zip(gold, guesses, strict=True)
    ]
    scores = score_split(gold, predicted, LABELS, train)
    assert scores["train_overlap"] == {
        "seen_in_train": {"examples": 2, "accuracy": 1.0},  # compared stripped
        "unseen": {"examples": 1, "accuracy": 0.0},
    }
    assert (
        score_split(gold, predicted, LABELS)["train_overlap"]["seen_in_train"]["accuracy"] is None
    )


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_a_pretrained_folder_encoder_is_fine_tuned(pooling, tmp_path) -> None:
    """``encoder: FOLDER`` (what a hub id resolves to): the folder's weights are loaded, its
    tokenizer used, and the classifier trains and predicts (cls: a sequence classifier)."""
    from transformers import AutoModel

    from nerflow.config.scratch import ScratchConfig
    from nerflow.models.scratch_bert import scratch_bert_config

    train, dev = data()
    encoder = tmp_path / "encoder"
    tokenizer = save_char_tokenizer(build_char_vocab(x.text for x in train + dev), encoder)
    sizes = ScratchConfig(layers=1, hidden=16, heads=2, intermediate=32)
    torch.manual_seed(0)
    AutoModel.from_config(scratch_bert_config(sizes, tokenizer, 64)).save_pretrained(encoder)
    settings = NeuralSettings.from_dict(
        {**TINY_NEURAL, "encoder": str(encoder), "pooling": pooling, "max_len": 64, "stride": 8}
    )
    folder = tmp_path / "model"
    summary = train_neural(
        settings, train, dev, LABELS, folder, tmp_path / "log", tmp_path / "w", stream=None
    )
    assert summary["epochs_run"] == 3
    classifier = load_classifier(folder, "cpu")
    assert len(classifier.tokenizer) == len(tokenizer)  # the encoder's own tokenizer
    predicted = predict_examples([classifier], dev)
    accuracy = np.mean([p["label"] == x.label for p, x in zip(predicted, dev, strict=True)])
    assert accuracy == pytest.approx(summary["best_metric"])
