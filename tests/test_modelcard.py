"""Model cards: front matter, sections and the per-(emitter, head) plain-load caveats."""

from __future__ import annotations

import json

import pytest
import yaml

from nerflow.provenance import file_sha256
from nerflow.report.modelcard import (
    NA,
    PLAIN_LOAD,
    export_model,
    fmt,
    render_model_card,
    training_data,
)
from nerflow.text.tagging import label_list

TYPES = ["地址", "org.unit", "a-b"]
CAVEATS = {
    ("transformers", "softmax"): "the full tagger",
    ("transformers", "crf"): "without the CRF transitions",
    ("transformers", "span"): "query/key projections",
    ("bilstm", "crf"): "not a transformers model",
}


def meta(emitter: str = "transformers", head: str = "softmax", scheme: str = "BIO", **extra):
    return {
        "emitter": emitter,
        "head": head,
        "scheme": scheme,
        "labels": label_list(TYPES, scheme),
        "head_settings": {"span_head_size": 64} if head == "span" else {},
        "features": None,
        "tokenization": "char",
        "max_len": 128,
        "stride": 32,
        **extra,
    }


def summary(**overrides):
    base = {
        "best_epoch": 3,
        "best_step": 300,
        "best_metric": 0.7512345,
        "select_metric": "micro_f1",
        "epochs_run": 5,
        "steps": 500,
        "train_minutes": 12.5,
        "sentences_per_s": 321.987654,
        "params": 4_123_456,
        "stop_reason": "completed",
        "device": "cuda",
        "amp": "bfloat16",
    }
    return {**base, **overrides}


def score_dict(f1: float):
    per_type = {t: {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 4} for t in TYPES}
    return {
        "micro": {"precision": 0.8, "recall": 0.7, "f1": f1, "tp": 7, "fp": 2, "fn": 3},
        "per_type": per_type,
        "macro_f1": 0.61,
        "clue": {"per_type": per_type, "macro_f1": 0.62},
        "clue_macro_f1": 0.62,
        "seqeval_micro_f1": f1,
        "n_records": 10,
        "text_mismatch_lines": 0,
    }


DATA = {
    "train": {"path": "resources/cluener/train.json", "sha256": "a" * 64, "records": 10748},
    "dev": {"path": "resources/cluener/dev.json", "sha256": "b" * 64, "records": 1343},
}


def card(m=None, s=None, scores=None, **kwargs) -> str:
    return render_model_card(
        run="exp1",
        meta=m if m is not None else meta(),
        summary=s if s is not None else summary(),
        scores=scores if scores is not None else {"dev": score_dict(0.7512345)},
        data=kwargs.pop("data", DATA),
        **kwargs,
    )


def front(text: str) -> dict:
    assert text.startswith("---\n")
    block = text.split("\n---\n", 1)[0][len("---\n") :]
    return yaml.safe_load(block)


@pytest.mark.parametrize("combo", list(CAVEATS))
def test_each_card_has_its_caveat_only(combo) -> None:
    emitter, head = combo
    text = card(meta(emitter, head))
    assert CAVEATS[combo] in text
    for other, phrase in CAVEATS.items():
        if other != combo:
            assert phrase not in text, (combo, other)
    snippet = 'pipeline("token-classification"' in text
    assert snippet == (emitter == "transformers" and head == "softmax")
    assert "nerflow predict path/to/model input.txt -o out.jsonl" in text


def test_caveats_are_written_once() -> None:
    texts = [text for _, text in PLAIN_LOAD.values()]
    assert len(set(texts)) == len(texts)
    for phrase in CAVEATS.values():
        assert sum(phrase in t for t in texts) == 1


def test_library_name_and_tags() -> None:
    assert front(card(meta("transformers", "softmax")))["library_name"] == "transformers"
    assert front(card(meta("transformers", "crf")))["library_name"] == "transformers"
    assert front(card(meta("transformers", "span")))["library_name"] == "nerflow"
    fm = front(card(meta("bilstm", "crf")))
    assert fm["library_name"] == "nerflow"
    assert fm["tags"] == ["ner", "cluener", "nerflow", "crf"]
    assert fm["language"] == "zh" and "pipeline_tag" not in fm  # its pipeline output is unusable
    assert fm["license"] == "apache-2.0" and fm["datasets"] == ["CLUENER2020"]
    softmax = front(card(meta("transformers", "softmax")))
    assert softmax["pipeline_tag"] == "token-classification"
    for head in ("crf", "span"):  # the pipeline's output is no entities: no pipeline tag
        assert "pipeline_tag" not in front(card(meta("transformers", head)))


def test_unknown_emitter_raises() -> None:
    with pytest.raises(ValueError, match="no model card facts"):
        card(meta("lstm-crf-3000", "crf"))


def test_front_matter_model_index() -> None:
    fm = front(card())
    (entry,) = fm["model-index"]
    assert entry["name"] == "exp1"
    (result,) = entry["results"]
    assert result["task"]["type"] == "token-classification"
    assert {k: result["dataset"][k] for k in ("name", "type", "split")} == {
        "name": "CLUENER2020",
        "type": "cluener",
        "split": "dev",
    }
    metrics = {m["type"]: m["value"] for m in result["metrics"]}
    assert metrics == {"f1": 0.7512, "precision": 0.8, "recall": 0.7}


def test_test_split_only_when_scored() -> None:
    data = {**DATA, "test": {"path": "test.json", "sha256": "c" * 64, "records": 1345}}
    without = card(data=data)
    assert "### test" not in without
    assert [r["dataset"]["split"] for r in front(without)["model-index"][0]["results"]] == ["dev"]
    assert "| test | test.json | 1345 |" in without  # the data file is still listed
    scores = {"test": score_dict(0.7), "dev": score_dict(0.75)}
    with_test = card(scores=scores, data=data)
    assert with_test.index("### dev") < with_test.index("### test")
    splits = [r["dataset"]["split"] for r in front(with_test)["model-index"][0]["results"]]
    assert splits == ["dev", "test"]
    assert with_test.count("Per type (dev)") == 1


def test_missing_values_show_na() -> None:
    text = card(s={"device": "cpu"}, scores={"dev": {"micro": {"f1": 0.5}}})
    assert "| epochs run | n/a |" in text
    assert "| best epoch | n/a |" in text
    assert "| sentences/s | n/a |" in text
    assert "| parameters | n/a |" in text
    assert "| strict micro precision | n/a |" in text
    assert "| CLUE macro F1 (official scorer) | n/a |" in text
    assert "| hardware | cpu |" in text
    metrics = front(text)["model-index"][0]["results"][0]["metrics"]
    assert metrics == [{"type": "f1", "value": 0.5, "name": "strict micro F1"}]
    assert "No labelled split was scored." in card(scores={})


def test_numbers_and_hardware() -> None:
    text = card(hardware="1x NVIDIA H200", experiment={"encoder": "scratch", "train": {"lr": 5e-4}})
    assert "| strict micro F1 | 0.7512 |" in text
    assert "| tp / fp / fn | 7 / 2 / 3 |" in text
    assert "| sentences/s | 321.9877 |" in text
    assert "| hardware | 1x NVIDIA H200 |" in text
    assert "| parameters | 4123456 |" in text
    assert "lr=0.0005" in text
    assert "`scratch` encoder + softmax head, char tokenisation, BIO tags" in text
    assert fmt(float("nan")) == NA and fmt(None) == NA and fmt(2) == "2"


def test_type_names_listed() -> None:
    text = card(meta(scheme="BIOES"))
    assert "3 entity types, tagging scheme BIOES (13 labels):" in text
    for name in TYPES:
        assert f"- `{name}`" in text
        assert f"| `{name}` | 0.5000 | 0.2500 | 0.3333 | 0.3333 | 4 |" in text


def test_pipeline_names_and_feature_notes() -> None:
    note = "`id2label` names `S-X` as `B-X` and `E-X` as `I-X`"
    assert note in card(meta(scheme="BIOES"))
    assert note not in card(meta(head="crf", scheme="BIOES"))
    assert note not in card(meta(head="span", scheme="BIOES"))
    features = {"spec": {"bigram": True, "lexicon": False, "gazetteer": True}, "fingerprint": "f0"}
    text = card(meta(features=features))
    assert "input features (bigram, gazetteer)" in text and "scores drop" in text
    assert "| features | bigram, gazetteer |" in text
    assert "scores drop" not in card(meta("bilstm", "crf", features=features))
    assert "scores drop" not in card()


def test_span_card_shows_head_size() -> None:
    assert "| span_head_size | 64 |" in card(meta(head="span"))
    assert "span_head_size" not in card()


def test_training_data_and_export(tmp_path) -> None:
    train, dev = tmp_path / "train.json", tmp_path / "dev.json"
    train.write_text('{"text": "北京"}\n', encoding="utf-8")
    dev.write_text("", encoding="utf-8")
    data = training_data(["train", "dev"], [train, dev], [{"records": 1}, {}])
    assert data["train"] == {"path": "train.json", "sha256": file_sha256(train), "records": 1}
    assert data["dev"]["records"] is None and str(tmp_path) not in json.dumps(data)
    assert "| dev | dev.json | n/a |" in card(data=data)
    with pytest.raises(ValueError):
        training_data(["train"], [train, dev], [{}, {}])
    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "nerflow_head.json").write_text("{}", encoding="utf-8")
    out = tmp_path / "model"
    out.mkdir()
    (out / "stale.bin").write_text("x", encoding="utf-8")
    assert export_model(trained, out, "# card\n") == out
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "nerflow_head.json"]
    assert (out / "README.md").read_text(encoding="utf-8") == "# card\n"


def test_small_hyperparameters_keep_their_value_and_a_budget_stop_is_said() -> None:
    from nerflow.report.modelcard import TIME_BUDGET_NOTE, fmt

    assert fmt(3e-5) == "3e-05" and fmt(0.0025) == "0.0025" and fmt(0.5) == "0.5000"
    assert fmt(0.0) == "0.0000" and fmt(12) == "12"
    experiment = {"encoder": "scratch", "train": {"lr": 3e-5, "head_lr": 0.001}}
    text = card(meta(), experiment=experiment)
    assert "lr=3e-05" in text and "head_lr=0.0010" in text
    assert TIME_BUDGET_NOTE not in text
    stopped = card(meta(), {**summary(), "stop_reason": "time_budget"})
    assert TIME_BUDGET_NOTE in stopped
