"""Tensor caches and the training loop: learning, logging, early stopping, resume."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import TYPES, make_records, tiny_experiment, tiny_train, write_word_list

from nerflow.config.experiment import ExperimentConfig
from nerflow.data.records import Record, Span
from nerflow.evaluation.scoring import score
from nerflow.inference.predict import predict_records
from nerflow.models.factory import build_model
from nerflow.models.folder import load_model
from nerflow.models.head import pipeline_label
from nerflow.text.tagging import label_list, spans_to_tags
from nerflow.training.batching import make_batches
from nerflow.training.cache import (
    CacheMeta,
    TensorCache,
    build_cache,
    check_cache,
    load_cache,
    save_cache,
)
from nerflow.training.loop import Loop, averaged_model
from nerflow.training.resume import CHECKPOINT_FILE, load_checkpoint, write_checkpoint
from nerflow.training.train import TaggingTask, fingerprint, train

LOG_KEYS = {
    "epoch",
    "step",
    "loss",
    "dev_micro_f1",
    "dev_macro_f1",
    "dev_clue_macro_f1",
    "lr",
    "sentences_per_s",
    "elapsed_s",
    "best",
}


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """``train`` sets torch's thread count; give other tests the original one back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def make_cfg(head: str = "softmax", scheme: str = "BIOES", **train_overrides) -> dict:
    """A tiny scratch experiment with a high learning rate (memorises in seconds)."""
    return tiny_experiment(head, scheme, hidden=64, max_len=48, train=tiny_train(**train_overrides))


def run(cfg: dict, records: list[Record], tokenizer, out: Path, **kwargs) -> dict:
    """Train on ``records`` (also the dev set) into ``out``."""
    labels = label_list(TYPES, cfg["scheme"])
    cache = build_cache(
        records, tokenizer, "char", cfg["max_len"], cfg["scheme"], labels, stride=cfg["stride"]
    )
    kwargs.setdefault("checkpoint_dir", out.parent / (out.name + "_ckpt"))
    return train(
        cfg, cache, records, tokenizer, labels, out, out / "train_log.jsonl", 1, None, **kwargs
    )


def log_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------- cache


@pytest.mark.parametrize("mode", ["char", "wordpiece"])
def test_cache_shapes_and_ignore_positions(mode: str, tokenizer, tmp_path: Path) -> None:
    labels = label_list(TYPES, "BIOS")
    records = [
        Record("a", "叶老桂在北京", [Span(0, 2, "name"), Span(4, 5, "address")]),
        Record("b", "我在上海银行了是中有人大学生的呢" * 2, [Span(2, 5, "company")]),
        Record("c", "我" * 12 + "北京", [Span(12, 13, "address")]),  # cut by max_len
    ]
    truncated = build_cache(records, tokenizer, mode, 12, "BIOS", labels, stride=3, truncate=True)
    assert truncated.ids == ["a", "b", "c"]
    assert truncated.lost_spans["truncated"] == 1 and truncated.meta.n_truncated == 2
    cache = build_cache(records, tokenizer, mode, 12, "BIOS", labels, stride=3)
    # the long texts become windows (10 content tokens, 3 shared): nothing is cut
    assert cache.ids == ["a", *["b"] * 5, "c", "c"]
    assert cache.lost_spans["truncated"] == 0 and cache.lost_spans["nested"] == 0
    meta = cache.meta
    assert meta.labels == labels and meta.mode == mode and meta.max_len == 12
    assert meta.n_records == 3 and meta.n_sequences == 8 and meta.n_windowed == 2
    assert meta.n_truncated == 0 and meta.stride == 3 and len(meta.tokenizer) == 64
    last = [labels[i] for i in cache.labels[-1][1:-1].tolist()]
    assert last[-2:] == ["B-address", "I-address"]  # "北京" past the cut, in the last window
    for ids, labs, offsets in zip(cache.input_ids, cache.labels, cache.offsets, strict=True):
        assert ids.dtype == labs.dtype == offsets.dtype == torch.long
        assert ids.ndim == 1 and labs.shape == ids.shape and offsets.shape == (len(ids), 2)
        assert len(ids) <= 12
        assert ids[0].item() == tokenizer.cls_token_id and ids[-1].item() == tokenizer.sep_token_id
        assert labs[0].item() == -100 and labs[-1].item() == -100
        assert (labs[1:-1] >= 0).all()  # one token per character here: all labelled
    first = [labels[i] for i in cache.labels[0][1:-1].tolist()]
    assert first == spans_to_tags(6, records[0].spans, "BIOS")
    assert cache.offsets[0][1].tolist() == [0, 1]

    save_cache(tmp_path / "train.pt", cache)
    stored = torch.load(tmp_path / "train.pt", weights_only=True)  # the file: a plain dict
    assert list(stored) == [
        "input_ids",
        "labels",
        "offsets",
        "ids",
        "spans",
        "features",
        "lost_spans",
        "meta",
    ]
    assert list(stored["meta"])[:2] == ["format", "tokenizer"] and stored["meta"]["format"] == 1
    loaded = load_cache(tmp_path / "train.pt")  # weights_only=True inside
    assert loaded.meta == meta and loaded.ids == cache.ids
    assert all(torch.equal(a, b) for a, b in zip(loaded.labels, cache.labels, strict=True))
    check_cache(loaded, tokenizer, labels, "BIOS")
    with pytest.raises(ValueError, match="labels"):
        check_cache(loaded, tokenizer, label_list(TYPES, "BIO"), "BIOS")


def test_make_batches_are_deterministic_buckets() -> None:
    lengths = [random.Random(i).randint(3, 60) for i in range(230)]
    batches = make_batches(lengths, 8, seed=3, epoch=0)
    assert sorted(i for batch in batches for i in batch) == list(range(230))
    assert batches == make_batches(lengths, 8, seed=3, epoch=0)
    assert batches != make_batches(lengths, 8, seed=3, epoch=1)
    assert all(len(batch) <= 8 for batch in batches)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread / len(batches) < 10  # sorted within chunks: little padding


# --------------------------------------------------------------------------- learning


@pytest.mark.parametrize(("head", "epochs"), [("softmax", 20), ("crf", 8)])
def test_memorises_a_tiny_data_set(head: str, epochs: int, tokenizer, tmp_path: Path) -> None:
    records = make_records(24)
    cfg = make_cfg(head, "BIOES", epochs=epochs, batch_size=8)
    summary = run(cfg, records, tokenizer, tmp_path / "out")
    assert summary["best_metric"] > 0.9
    assert summary["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert summary["epochs_run"] == epochs and summary["stop_reason"] == "completed"
    assert summary["params"] > 0 and summary["sentences_per_s"] > 0
    lines = log_lines(tmp_path / "out")
    assert len(lines) == epochs
    assert all(LOG_KEYS <= set(line) for line in lines)
    assert [line["epoch"] for line in lines] == list(range(1, epochs + 1))
    best = [line for line in lines if line["best"]]
    assert best[-1]["dev_micro_f1"] == summary["best_metric"]
    assert best[-1]["step"] == summary["best_step"]
    assert not (tmp_path / "out_ckpt").exists()  # removed after success

    model, tokenizer_back, meta = load_model(tmp_path / "out" / "model", "cpu")
    assert meta.training["best_metric"] == summary["best_metric"]
    labels = label_list(TYPES, "BIOES")
    predictions = predict_records(
        model, tokenizer_back, records, "char", 48, 8, "BIOES", labels, 16, "cpu"
    )
    assert score(records, predictions, TYPES)["micro"]["f1"] == summary["best_metric"]


def test_averaged_model_is_an_exponential_moving_average(tokenizer) -> None:
    labels = label_list(TYPES, "BIOES")
    model = build_model(make_cfg("crf"), labels, tokenizer)
    model.featurizer = object()  # stands for a featurizer with a large lexicon
    ema = averaged_model(model, 0.75, TaggingTask.ema_shared)
    assert ema.module.featurizer is model.featurizer  # shared, not copied
    start = {k: v.clone() for k, v in model.named_parameters()}
    ema.update_parameters(model)  # the first update copies
    with torch.no_grad():
        for param in model.parameters():
            param.add_(1.0)
    ema.update_parameters(model)
    for name, param in ema.module.named_parameters():
        assert torch.allclose(param, start[name] + 0.25), name


def test_ema_weights_are_evaluated_and_kept(tokenizer, tmp_path: Path) -> None:
    records = make_records(24)
    cfg = make_cfg("crf", "BIOES", epochs=6, batch_size=8, ema_decay=0.6)
    summary = run(cfg, records, tokenizer, tmp_path / "ema")
    plain = run(
        {**cfg, "train": {**cfg["train"], "ema_decay": 0.0}}, records, tokenizer, tmp_path / "plain"
    )
    assert log_lines(tmp_path / "ema") != log_lines(tmp_path / "plain")
    model, tokenizer_back, _ = load_model(tmp_path / "ema" / "model", "cpu")
    labels = label_list(TYPES, "BIOES")
    predictions = predict_records(
        model, tokenizer_back, records, "char", 48, 8, "BIOES", labels, 16, "cpu"
    )
    # the saved model is the evaluated (averaged) one
    assert score(records, predictions, TYPES)["micro"]["f1"] == summary["best_metric"]
    assert summary["best_metric"] > 0.5 and plain["best_metric"] > 0.5
    with pytest.raises(ValueError, match="ema_decay"):
        run(make_cfg(ema_decay=1.0), records, tokenizer, tmp_path / "bad")


def test_encoder_from_local_directory_trains(tokenizer, tmp_path: Path) -> None:
    from transformers import AutoModelForTokenClassification, BertConfig, BertModel

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(str(tmp_path / "encoder"))
    records = make_records(6)
    cfg = {**make_cfg("crf", epochs=1, batch_size=8), "encoder": str(tmp_path / "encoder")}
    summary = run(cfg, records, tokenizer, tmp_path / "out")
    assert summary["steps"] == 1 and summary["epochs_run"] == 1
    saved = AutoModelForTokenClassification.from_pretrained(str(tmp_path / "out" / "model"))
    labels = label_list(TYPES, "BIOES")
    assert saved.config.id2label == {i: pipeline_label(label) for i, label in enumerate(labels)}
    assert saved.config.label2id == {label: i for i, label in enumerate(labels)}


# --------------------------------------------------------------------------- schedule


def test_eval_every_steps_and_final_evaluation(tokenizer, tmp_path: Path) -> None:
    summary = run(make_cfg(epochs=1, eval_every_steps=2), make_records(12), tokenizer, tmp_path)
    assert summary["steps"] == 3
    assert [line["step"] for line in log_lines(tmp_path)] == [2, 3]


def test_time_budget_stops_after_an_evaluation(tokenizer, tmp_path: Path) -> None:
    summary = run(make_cfg(epochs=5, max_minutes=1e-9), make_records(12), tokenizer, tmp_path)
    assert summary["stop_reason"] == "time_budget" and summary["stopped_early"]
    assert summary["steps"] == 1
    assert [line["step"] for line in log_lines(tmp_path)] == [1]
    assert (tmp_path / "model" / "config.json").exists()


def test_a_cpu_run_flushes_denormals(tokenizer, tmp_path: Path) -> None:
    torch.set_flush_denormal(False)  # an earlier test's run may have switched it on
    denormal = torch.tensor([1e-39])
    try:
        assert (denormal * 2).item() > 0
        run(make_cfg(epochs=1), make_records(4), tokenizer, tmp_path)
        assert (denormal * 2).item() == 0
    finally:
        torch.set_flush_denormal(False)


def test_cpu_threads_flush_denormals_in_every_worker_thread() -> None:
    """Worker threads keep the mode they started with: ``use_cpu_threads`` comes first."""
    script = (
        "import torch\n"
        "from nerflow.tensors import use_cpu_threads\n"
        "use_cpu_threads(2)\n"
        "x = torch.full((1 << 20,), 1e-30)\n"
        "print(int(((x * 1e-10) != 0).sum()))\n"  # 1e-40: a denormal unless flushed
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_patience_stops_training(tokenizer, tmp_path: Path) -> None:
    cfg = make_cfg(epochs=10, lr=0.0, head_lr=0.0, patience=2)
    summary = run(cfg, make_records(12), tokenizer, tmp_path)
    assert summary["stop_reason"] == "patience" and summary["stopped_early"]
    assert summary["epochs_run"] == 3 and summary["best_epoch"] == 1
    assert [line["best"] for line in log_lines(tmp_path)] == [True, False, False]


# --------------------------------------------------------------------------- resume


class SimulatedCrash(RuntimeError):
    pass


@pytest.mark.parametrize(
    ("eval_every", "ema_decay", "resumed_from", "steps"),
    [
        (0, 0.0, {"epoch": 1, "step_in_epoch": 0, "global_step": 3}, [3, 6]),
        (2, 0.0, {"epoch": 0, "step_in_epoch": 2, "global_step": 2}, [2, 4, 6]),  # mid-epoch
        (2, 0.5, {"epoch": 0, "step_in_epoch": 2, "global_step": 2}, [2, 4, 6]),  # with EMA
    ],
)
def test_resume_after_a_crash_matches_an_uninterrupted_run(
    eval_every: int,
    ema_decay: float,
    resumed_from: dict,
    steps: list[int],
    tokenizer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = make_records(12)
    cfg = make_cfg("crf", epochs=2, eval_every_steps=eval_every, ema_decay=ema_decay)
    reference = run(cfg, records, tokenizer, tmp_path / "reference")

    original = Loop.save_checkpoint

    def crash_after_first_checkpoint(self: Loop) -> None:
        original(self)
        raise SimulatedCrash

    monkeypatch.setattr(Loop, "save_checkpoint", crash_after_first_checkpoint)
    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(SimulatedCrash):
        run(cfg, records, tokenizer, tmp_path / "out", checkpoint_dir=checkpoints)
    monkeypatch.undo()
    assert (checkpoints / CHECKPOINT_FILE).exists()
    shutil.rmtree(tmp_path / "out")  # Snakemake removes the outputs of a failed job

    summary = run(cfg, records, tokenizer, tmp_path / "out", checkpoint_dir=checkpoints)
    assert summary["resumed_from"] == resumed_from
    assert summary["epochs_run"] == 2 and summary["steps"] == reference["steps"] == 6
    lines, expected = log_lines(tmp_path / "out"), log_lines(tmp_path / "reference")
    assert [line["step"] for line in lines] == steps
    for got, want in zip(lines, expected, strict=True):
        for key in ("step", "loss", "dev_micro_f1", "lr", "best"):
            assert got[key] == pytest.approx(want[key], rel=1e-5), key
    assert summary["best_metric"] == pytest.approx(reference["best_metric"])
    assert not checkpoints.exists()


def test_more_epochs_resume_from_a_kept_checkpoint(tokenizer, tmp_path: Path) -> None:
    records = make_records(12)
    out, checkpoints = tmp_path / "out", tmp_path / "checkpoints"
    kept = {"checkpoint_dir": checkpoints, "keep_checkpoint": True}
    first = run(make_cfg(epochs=1), records, tokenizer, out, **kept)
    assert first["resumed_from"] is None and checkpoints.exists()
    second = run(make_cfg(epochs=2), records, tokenizer, out, checkpoint_dir=checkpoints)
    assert second["resumed_from"]["epoch"] == 1
    assert [line["epoch"] for line in log_lines(out)] == [1, 2]
    assert second["steps"] == 6 and not checkpoints.exists()


def test_patience_stop_is_reconsidered_on_resume(tokenizer, tmp_path: Path) -> None:
    records = make_records(12)
    out, kept = tmp_path / "out", {"checkpoint_dir": tmp_path / "ckpt", "keep_checkpoint": True}
    frozen = {"lr": 0.0, "head_lr": 0.0}
    first = run(make_cfg(epochs=6, patience=1, **frozen), records, tokenizer, out, **kept)
    assert first["stop_reason"] == "patience" and first["epochs_run"] == 2
    again = run(make_cfg(epochs=6, patience=1, **frozen), records, tokenizer, out, **kept)
    assert again["stop_reason"] == "patience" and again["steps"] == first["steps"]
    longer = run(make_cfg(epochs=6, patience=3, **frozen), records, tokenizer, out, **kept)
    assert longer["stop_reason"] == "patience" and longer["epochs_run"] == 4


def test_checkpoint_of_another_layout_is_ignored(tmp_path: Path) -> None:
    said: list[str] = []
    write_checkpoint(tmp_path, "abc", {"progress": {}})
    assert load_checkpoint(tmp_path, "abc", said.append)["progress"] == {}
    torch.save({"fingerprint": "abc", "progress": {}}, tmp_path / CHECKPOINT_FILE)  # unversioned
    assert load_checkpoint(tmp_path, "abc", said.append) is None
    assert said == [
        f"ignoring checkpoint {tmp_path / CHECKPOINT_FILE}: written by another version of nerflow"
    ]


def test_the_resume_fingerprint_is_that_of_the_defaulted_settings() -> None:
    """A mapping and its fully defaulted form (what the workflow passes) resume the same
    checkpoints; the value is pinned: a change would orphan every checkpoint."""
    meta = CacheMeta("tok", ["O", "B-x", "I-x"], "BIO", "char", 48, 8, 1, 1, 0, 0, None)
    cache = TensorCache(
        input_ids=[torch.tensor([2, 7, 3])],
        labels=[torch.tensor([-100, 0, -100])],
        offsets=[torch.tensor([[0, 0], [0, 1], [0, 0]])],
        ids=[0],
        spans=[torch.zeros(0, 3, dtype=torch.long)],
        features={},
        lost_spans={},
        meta=meta,
    )
    labels = ["O", "B-x", "I-x"]
    exp = ExperimentConfig.from_dict(make_cfg("crf"))
    value = fingerprint(exp, labels, cache)
    # re-pinned when lac_encoder_lr moved to the features block and every added feature's
    # settings were left out while off (issue 21): checkpoints written before do not resume;
    # and when this test's cache became a whole TensorCache (a real cache's fingerprint
    # did not change: it hashes the meta dict of the file, which to_dict() still gives)
    assert value == "4dd1b0a58cb7292d2cc3bab464f1a38792fc6be3de0a48a0781489befd269098"
    assert fingerprint(ExperimentConfig.from_dict(exp.to_dict()), labels, cache) == value
    longer = replace(exp, train=replace(exp.train, epochs=9, device="cpu", max_minutes=5))
    assert fingerprint(longer, labels, cache) == value
    assert fingerprint(replace(exp, train=replace(exp.train, lr=1.0)), labels, cache) != value
    # LAC's encoder: its settings count only when it is on
    assert (
        fingerprint(replace(exp, features=replace(exp.features, lac_encoder_lr=0.1)), labels, cache)
        == value
    )
    lac = replace(exp, features=replace(exp.features, lac_encoder=True))
    assert value != fingerprint(lac, labels, cache)
    slower = replace(lac, features=replace(lac.features, lac_encoder_lr=0.1))
    assert fingerprint(slower, labels, cache) != fingerprint(lac, labels, cache)


def test_checkpoint_of_another_config_is_ignored(tokenizer, tmp_path: Path) -> None:
    records = make_records(12)
    kept = {"checkpoint_dir": tmp_path / "checkpoints", "keep_checkpoint": True}
    run(make_cfg(epochs=1), records, tokenizer, tmp_path / "a", **kept)
    summary = run(make_cfg(epochs=1, lr=1e-3), records, tokenizer, tmp_path / "b", **kept)
    assert summary["resumed_from"] is None
    assert [line["epoch"] for line in log_lines(tmp_path / "b")] == [1]


# --------------------------------------------------------------------------- bilstm + features


def bilstm_setup(tmp_path: Path, records: list[Record], **features) -> tuple[dict, Path]:
    """A small BiLSTM-CRF experiment with features whose assets come from ``records``."""
    from nerflow.features.featurizer import build_feature_assets

    words = write_word_list(tmp_path / "words.txt")
    spec = {"bigram": True, "lexicon": True, "bigram_min_freq": 1, "lexicon_path": str(words)}
    spec.update(features)
    assets = tmp_path / "assets"
    build_feature_assets([r.text for r in records], spec, assets)
    cfg = make_cfg("crf", "BIOES", epochs=12, batch_size=8, lr=1e-2, head_lr=5e-2, grad_clip=5.0)
    cfg.update(
        encoder="bilstm",
        bilstm={"embedding_dim": 32, "hidden": 32, "layers": 1, "dropout": 0.0},
        features=spec,
        feature_dir=str(assets),
    )
    del cfg["scratch"]
    return cfg, assets


def test_bilstm_with_features_memorises_a_toy_set(tokenizer, tmp_path: Path) -> None:
    records = make_records(24)
    cfg, assets = bilstm_setup(tmp_path, records)
    labels = label_list(TYPES, "BIOES")
    cache = build_cache(
        records,
        tokenizer,
        "char",
        48,
        "BIOES",
        labels,
        features=cfg["features"],
        feature_dir=assets,
        stride=cfg["stride"],
    )
    assert set(cache.features) == {"bigram_ids", "lexicon_bits"}
    out = tmp_path / "out"
    summary = train(cfg, cache, records, tokenizer, labels, out, out / "log.jsonl", 1, None)
    assert summary["best_metric"] >= 0.9, summary
    model, tokenizer_back, meta = load_model(out / "model", "cpu")
    assert meta.emitter == "bilstm" and model.featurizer is not None
    assert meta.features["fingerprint"] == cache.meta.features["fingerprint"]
    predictions = predict_records(
        model, tokenizer_back, records, "char", 16, 4, "BIOES", labels, 16, "cpu"
    )  # windows of 14 characters: features still come from the full texts
    assert score(records, predictions, TYPES)["micro"]["f1"] >= 0.8


def test_cache_features_must_match_the_experiment(tokenizer, tmp_path: Path) -> None:
    records = make_records(6)
    cfg, assets = bilstm_setup(tmp_path, records)
    labels = label_list(TYPES, "BIOES")
    plain = build_cache(records, tokenizer, "char", 48, "BIOES", labels, stride=cfg["stride"])
    with pytest.raises(ValueError, match="features"):
        train(cfg, plain, records, tokenizer, labels, tmp_path / "a", tmp_path / "a.jsonl", 1, None)
    with_features = build_cache(
        records,
        tokenizer,
        "char",
        48,
        "BIOES",
        labels,
        features=cfg["features"],
        feature_dir=assets,
        stride=cfg["stride"],
    )
    no_features = {**cfg, "features": {}}
    with pytest.raises(ValueError, match="features"):
        train(
            no_features,
            with_features,
            records,
            tokenizer,
            labels,
            tmp_path / "b",
            tmp_path / "b.jsonl",
            1,
            None,
        )


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_in_a_log() -> None:
    import io

    from tqdm import tqdm

    from nerflow.training.progress import ProgressLines, progress_bar

    log = io.StringIO()
    lines = progress_bar(log, 40, 0)
    assert isinstance(lines, ProgressLines)
    for step in range(40):
        lines.set_postfix(loss=f"{1 / (step + 1):.4f}", epoch=step // 10 + 1)
        lines.update(1)
    lines.close()
    written = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(written) == 10
    assert written[0].startswith("train 10% (4/40 batches, ") and written[0].endswith(
        "loss 0.2500, epoch 1"
    )
    assert written[-1].startswith("train 100% (40/40 batches")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    bar = progress_bar(Terminal(), 40, 0)
    assert isinstance(bar, tqdm)
    bar.close()
    assert progress_bar(None, 40, 0).disable
