"""The GPU path (issue 23, marker ``gpu``): every head and encoder kind trains a few steps
and predicts on the device, in fp32 and under bf16 and fp16 autocast.

Checked per case: training runs on the device with the autocast it asked for and finite
losses; the CRF's likelihood and the span head's scores are computed in fp32 under
autocast; the saved model predicts on the device what it predicts on the CPU (exactly in
fp32: the weights are saved in fp32 and prediction does not autocast; the agreement is
asserted at 100 % of the records for every precision and a case that misses says by how
much).

Where no CUDA device is, the module is skipped. ``NERFLOW_TEST_DEVICE=cpu`` runs its fp32
cases on the CPU: the proof run of ``bench/gpu_check.sh --device cpu`` on a machine
without a GPU (autocast runs on CUDA only, :func:`nerflow.training.amp.resolve_amp`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from conftest import TYPES, make_records, tiny_experiment, tiny_train

from nerflow.inference.predict import Predictor
from nerflow.models.factory import build_model
from nerflow.text.tagging import label_list
from nerflow.training.cache import build_cache
from nerflow.training.train import train

DEVICE = os.environ.get("NERFLOW_TEST_DEVICE") or ("cuda" if torch.cuda.is_available() else "")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not DEVICE, reason="no CUDA device (NERFLOW_TEST_DEVICE=cpu runs the fp32 cases)"
    ),
]
AMP = {"fp32": "off", "bf16": "bf16", "fp16": "fp16"}
ENCODERS = {
    "scratch": {},
    "bilstm": {"bilstm": {"embedding_dim": 16, "hidden": 16}},
    "bilstm+features": {
        "bilstm": {"embedding_dim": 16, "hidden": 16},
        "features": {"bigram": True},
    },
}
CASES = [
    (head, encoder, precision)
    for head in ("softmax", "crf", "span")
    for encoder in ENCODERS
    for precision in AMP
]


def needs_cuda(precision: str) -> None:
    if precision != "fp32" and not DEVICE.startswith("cuda"):
        pytest.skip(f"{precision} autocast runs on CUDA only")


def experiment(head: str, encoder: str, precision: str) -> dict:
    blocks = dict(ENCODERS[encoder])
    kind = "bilstm" if encoder.startswith("bilstm") else "scratch"
    train_block = tiny_train(epochs=2, amp=AMP[precision], device=DEVICE)
    exp = tiny_experiment(head, "BIOS", encoder=kind, train=train_block, **blocks)
    if head == "span":
        exp["span_head_size"] = 8
    return exp


@pytest.mark.parametrize(("head", "encoder", "precision"), CASES)
def test_trains_and_predicts_on_the_device_as_on_the_cpu(
    head: str, encoder: str, precision: str, tokenizer, tmp_path: Path
) -> None:
    needs_cuda(precision)
    exp = experiment(head, encoder, precision)
    labels = label_list(TYPES, "BIOS")
    records = make_records(48, seed=5)
    features = exp.get("features")
    if features:
        from nerflow.features.featurizer import build_feature_assets

        exp["feature_dir"] = str(tmp_path / "assets")
        build_feature_assets([r.text for r in records], features, tmp_path / "assets", records)
    cache = build_cache(
        records, tokenizer, "char", exp["max_len"], "BIOS", labels,
        features, exp.get("feature_dir"), stride=exp["stride"],
    )  # fmt: skip
    out = tmp_path / "run"
    summary = train(exp, cache, records, tokenizer, labels, out, out / "log.jsonl", 1, None)
    assert summary["device"].startswith(DEVICE)
    assert summary["amp"] == ("off" if precision == "fp32" else precision)
    losses = [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert losses and all(math.isfinite(loss) for loss in losses)
    on_device = Predictor.load(out / "model", DEVICE).predict(records)
    on_cpu = Predictor.load(out / "model", "cpu").predict(records)
    same = sum(a.spans == b.spans for a, b in zip(on_device, on_cpu, strict=True))
    assert same == len(records), f"{precision}: {same}/{len(records)} records agree"


@pytest.mark.parametrize("head", ["crf", "span"])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_crf_and_span_scores_are_fp32_under_autocast(head: str, precision: str, tokenizer) -> None:
    needs_cuda(precision)
    labels = label_list(TYPES, "BIOS")
    exp = experiment(head, "scratch", precision)
    model = build_model(exp, labels, tokenizer).to(DEVICE)
    ids = torch.randint(5, len(tokenizer), (3, 12), device=DEVICE)
    mask = torch.ones_like(ids)
    gold = torch.randint(0, len(labels), (3, 12), device=DEVICE)
    spans = [torch.tensor([[1, 2, 0]], device=DEVICE)] * 3
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    with torch.autocast(device_type="cuda", dtype=dtype):
        loss, scores = model(ids, mask, gold, spans=spans)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    if head == "span":
        assert scores.dtype == torch.float32
