"""Tagger models: heads, constrained CRF decoding, parameter groups, save/load, vocabularies."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_experiment

from nerflow.config.experiment import HEADS as CONFIG_HEADS
from nerflow.data.records import Record, Span
from nerflow.heads.constraints import allowed_transitions
from nerflow.models.crf import CRF_FILE
from nerflow.models.factory import build_model
from nerflow.models.folder import HEAD_FILE, load_model, save_model
from nerflow.models.head import pipeline_label
from nerflow.models.registry import HEADS
from nerflow.models.tagger import TaggerModel
from nerflow.nn.positions import left_align
from nerflow.text.tagging import SCHEMES, is_valid_sequence, label_list
from nerflow.text.vocab import (
    SPECIAL_TOKENS,
    build_char_vocab,
    load_tokenizer,
    save_char_tokenizer,
    tokenizer_fingerprint,
)

TYPES = ["address", "company", "name"]


def tiny_cfg(head: str = "softmax", scheme: str = "BIOS", encoder: str = "scratch") -> dict:
    """A minimal experiment config with a 1-layer, 32-wide scratch encoder."""
    return tiny_experiment(head, scheme, dropout=0.1, encoder=encoder)


def random_batch(
    vocab_size: int, n_labels: int, batch: int = 4, width: int = 12, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random ids, a right-padded attention mask and labels (-100 on [CLS]/[SEP]/padding)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, width + 1, (batch,), generator=generator)
    lengths[0] = width
    input_ids = torch.randint(5, vocab_size, (batch, width), generator=generator)
    attention_mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
    labels = torch.randint(0, n_labels, (batch, width), generator=generator)
    labels[:, 0] = -100
    labels[torch.arange(batch), lengths - 1] = -100
    labels[attention_mask == 0] = -100
    return input_ids, attention_mask, labels


def valid_labels(scheme: str, n: int, rng: random.Random) -> list[str]:
    """A random tag sequence that is valid for ``scheme`` (encoded from random spans)."""
    from nerflow.data.records import Span
    from nerflow.text.tagging import spans_to_tags

    spans, position = [], 0
    while position < n:
        length = rng.randint(1, 3)
        if rng.random() < 0.5 and position + length <= n:
            spans.append(Span(position, position + length - 1, rng.choice(TYPES)))
        position += length + rng.randint(0, 2)
    return spans_to_tags(n, spans, scheme)


# --------------------------------------------------------------------------- constraints


@pytest.mark.parametrize("scheme", SCHEMES)
def test_allowed_transitions_agree_with_the_strict_checker(scheme: str) -> None:
    labels = label_list(["X", "Y"], scheme)
    start, trans, end = allowed_transitions(labels, scheme)
    for length in range(1, 5):
        for seq in itertools.product(range(len(labels)), repeat=length):
            local = (
                bool(start[seq[0]])
                and bool(end[seq[-1]])
                and all(bool(trans[a, b]) for a, b in zip(seq, seq[1:], strict=False))
            )
            assert local == is_valid_sequence([labels[i] for i in seq], scheme), seq


def test_left_align_keeps_order() -> None:
    mask = torch.tensor([[False, True, False, True, True], [True, False, False, False, False]])
    index, new_mask = left_align(mask)
    assert index[0].tolist() == [1, 3, 4]
    assert index[1, 0].item() == 0
    assert new_mask.tolist() == [[True, True, True], [True, False, False]]


# --------------------------------------------------------------------------- heads


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_forward_backward(head: str, tokenizer) -> None:
    labels = label_list(TYPES, "BIOES")
    torch.manual_seed(0)
    model = build_model(tiny_cfg(head, "BIOES"), labels, tokenizer)
    input_ids, attention_mask, gold = random_batch(len(tokenizer), len(labels))
    tag_rows = [valid_labels("BIOES", 12, random.Random(i)) for i in range(4)]
    gold = torch.tensor(
        [
            [-100 if g < 0 else labels.index(tag) for g, tag in zip(row, tags, strict=True)]
            for row, tags in zip(gold.tolist(), tag_rows, strict=True)
        ]
    )
    gold[1, 2] = -100  # an unlabelled position inside the content (a non-first sub-token)
    loss, logits = model(input_ids, attention_mask, gold)
    assert logits.shape == (4, 12, len(labels))
    assert loss is not None and loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    classifier = model.emitter.model.classifier.weight
    assert classifier.grad is not None and classifier.grad.abs().sum() > 0
    embeddings = model.emitter.model.get_input_embeddings().weight
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    if head == "crf":
        assert model.crf.transitions.grad is not None
    assert model(input_ids, attention_mask)[0] is None
    all_ignored = torch.full_like(gold, -100)
    empty_loss, _ = model(input_ids, attention_mask, all_ignored)
    assert empty_loss.item() == 0.0


def test_crf_loss_skips_unlabelled_positions(tokenizer) -> None:
    """Inserting unlabelled tokens does not change the CRF's view of the labelled ones."""
    labels = label_list(TYPES, "BIO")
    torch.manual_seed(0)
    model = build_model(tiny_cfg("crf", "BIO"), labels, tokenizer)
    emissions = torch.randn(1, 4, len(labels))
    gold = torch.tensor([[1, 2, 0, 3]])
    padded_emissions = torch.randn(1, 7, len(labels))
    padded_emissions[0, [1, 2, 4, 6]] = emissions[0]
    padded_gold = torch.tensor([[-100, 1, 2, -100, 0, -100, 3]])
    assert torch.allclose(
        model.crf.loss(emissions, gold), model.crf.loss(padded_emissions, padded_gold)
    )


@pytest.mark.parametrize("scheme", SCHEMES)
def test_crf_decode_never_yields_an_invalid_sequence(scheme: str, tokenizer) -> None:
    labels = label_list(TYPES, scheme)
    torch.manual_seed(1)
    model = build_model(tiny_cfg("crf", scheme), labels, tokenizer).eval()
    start, trans, end = map(torch.from_numpy, allowed_transitions(labels, scheme))
    with torch.no_grad():  # make forbidden moves the most attractive ones
        model.crf.transitions.normal_(0, 3).add_((~trans).float() * 20)
        model.crf.start_transitions.normal_(0, 3).add_((~start).float() * 20)
        model.crf.end_transitions.normal_(0, 3).add_((~end).float() * 20)
    n_checked = 0
    for seed in range(40):
        input_ids, attention_mask, _ = random_batch(len(tokenizer), len(labels), 6, 16, seed)
        generator = torch.Generator().manual_seed(seed)
        label_mask = (torch.rand(input_ids.shape, generator=generator) < 0.8) & (
            attention_mask.bool()
        )
        label_mask[:, 0] = False
        label_mask[seed % 6] = False  # a sequence without labelled positions
        decoded = model.decode(input_ids, attention_mask, label_mask)
        assert [len(d) for d in decoded] == label_mask.sum(dim=1).tolist()
        for ids in decoded:
            assert is_valid_sequence([labels[i] for i in ids], scheme)
            n_checked += 1
    assert n_checked == 240


@pytest.mark.parametrize("scheme", ["BIOES", "BIOS"])
def test_crf_viterbi_is_the_best_valid_path(scheme: str, tokenizer) -> None:
    """Brute force over every valid sequence of one type agrees with constrained Viterbi."""
    labels = label_list(["X"], scheme)
    torch.manual_seed(2)
    model = build_model(tiny_cfg("crf", scheme), labels, tokenizer).eval()
    with torch.no_grad():
        for param in model.crf.parameters():
            param.normal_(0, 2)
    crf = model.crf
    for trial in range(20):
        length = 1 + trial % 5
        emissions = torch.randn(1, length, len(labels)) * 2
        mask = torch.ones(1, length, dtype=torch.bool)
        best = model.crf.decode(emissions, mask)[0]

        @torch.no_grad()
        def total(seq: tuple[int, ...], emissions: torch.Tensor = emissions) -> float:
            value = crf.start_transitions[seq[0]] + crf.end_transitions[seq[-1]]
            value = value + sum(emissions[0, i, t] for i, t in enumerate(seq))
            value = value + sum(crf.transitions[a, b] for a, b in zip(seq, seq[1:], strict=False))
            return float(value)

        candidates = [
            seq
            for seq in itertools.product(range(len(labels)), repeat=length)
            if is_valid_sequence([labels[i] for i in seq], scheme)
        ]
        expected = max(candidates, key=total)
        assert total(tuple(best)) == pytest.approx(total(expected), abs=1e-4)


def test_viterbi_equals_pytorch_crf_decode_on_a_batch_of_mixed_lengths() -> None:
    """nerflow's Viterbi (batched, numpy backtracking) picks pytorch-crf's paths, row by
    row, on left-aligned rows of every length from 1 to the width; padding stays 0."""
    from torchcrf import CRF

    from nerflow.heads.viterbi import viterbi

    torch.manual_seed(3)
    crf = CRF(7, batch_first=True)
    with torch.no_grad():
        for param in crf.parameters():
            param.normal_(0, 2)
    lengths = torch.tensor([1, 2, 5, 9, 9, 3, 8, 4])
    mask = torch.arange(9)[None] < lengths[:, None]
    emissions = torch.randn(len(lengths), 9, 7) * 3
    scores = (crf.start_transitions, crf.transitions, crf.end_transitions)
    paths = viterbi(emissions, mask, *(score.detach() for score in scores))
    expected = crf.decode(emissions, mask)
    for row, n, path in zip(paths.tolist(), lengths.tolist(), expected, strict=True):
        assert row[:n] == path and not any(row[n:])


def test_softmax_decode_is_the_argmax_of_labelled_positions(tokenizer) -> None:
    labels = label_list(TYPES, "BIO")
    torch.manual_seed(0)
    model = build_model(tiny_cfg("softmax", "BIO"), labels, tokenizer).eval()
    input_ids, attention_mask, gold = random_batch(len(tokenizer), len(labels))
    label_mask = gold != -100
    decoded = model.decode(input_ids, attention_mask, label_mask)
    _, logits = model(input_ids, attention_mask)
    for row, ids in enumerate(decoded):
        assert ids == logits[row][label_mask[row]].argmax(-1).tolist()


def test_param_groups_split_head_and_decay(tokenizer) -> None:
    labels = label_list(TYPES, "BIOS")
    model = build_model(tiny_cfg("crf"), labels, tokenizer)
    groups = model.param_groups(lr=1e-4, head_lr=1e-2, weight_decay=0.01)
    seen = [id(p) for group in groups for p in group["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())
    by_name = {group["name"]: group for group in groups}
    head_ids = {id(p) for p in by_name["head"]["params"] + by_name["head_no_decay"]["params"]}
    assert id(model.emitter.model.classifier.weight) in head_ids
    assert id(model.crf.transitions) in head_ids and id(model.crf.start_transitions) in head_ids
    assert by_name["head"]["lr"] == 1e-2 and by_name["encoder"]["lr"] == 1e-4
    names = {id(p): n for n, p in model.named_parameters()}
    for group in groups:
        for param in group["params"]:
            name = names[id(param)]
            no_decay = "bias" in name or "LayerNorm" in name or param.ndim < 2
            assert group["weight_decay"] == (0.0 if no_decay else 0.01), name


def test_heads_keep_the_state_dict_keys_of_saved_checkpoints(tokenizer) -> None:
    """The head is registered under its name: the CRF's scores stay ``crf.*`` (pytorch-crf's
    names) as in earlier checkpoints; heads without parameters add no key."""
    labels = label_list(TYPES, "BIOS")
    crf = build_model(tiny_cfg("crf"), labels, tokenizer)
    head_keys = [key for key in crf.state_dict() if not key.startswith("emitter.")]
    assert head_keys == ["crf.start_transitions", "crf.end_transitions", "crf.transitions"]
    assert crf.head is crf.crf and crf.head.name == "crf" and not crf.needs_spans
    for head in ("softmax", "span"):
        model = build_model(tiny_cfg(head), labels, tokenizer)
        assert model.head.name == head and model.needs_spans == (head == "span")
        assert all(key.startswith("emitter.") for key in model.state_dict())


def test_the_registry_holds_the_heads_an_experiment_may_name() -> None:
    assert tuple(HEADS) == CONFIG_HEADS


def test_bad_head_and_labels_are_rejected(tokenizer) -> None:
    with pytest.raises(ValueError, match="head"):
        build_model(tiny_cfg("mlp"), label_list(TYPES, "BIO"), tokenizer)
    with pytest.raises(ValueError, match="'O'"):
        build_model(tiny_cfg(), ["B-X", "O"], tokenizer)


# --------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_save_and_load_round_trip(head: str, tokenizer, tmp_path: Path) -> None:
    from transformers import AutoModelForTokenClassification

    labels = label_list(TYPES, "BIOES")
    torch.manual_seed(3)
    model = build_model(tiny_cfg(head, "BIOES"), labels, tokenizer).eval()
    out = save_model(model, tmp_path / "model", tokenizer, {"tokenization": "char", "max_len": 32})
    assert (out / CRF_FILE).exists() == (head == "crf")
    meta = json.loads((out / HEAD_FILE).read_text(encoding="utf-8"))
    assert meta["labels"] == labels and meta["head"] == head and meta["scheme"] == "BIOES"
    assert meta["tokenization"] == "char" and meta["max_len"] == 32

    plain = AutoModelForTokenClassification.from_pretrained(str(out))
    assert plain.config.id2label == {i: pipeline_label(label) for i, label in enumerate(labels)}
    assert {plain.config.id2label[i] for i in range(len(labels))} == set(
        label_list(TYPES, "BIO")
    )  # BIOES exported with BIO names only: S -> B, E -> I
    assert plain.config.label2id == {label: i for i, label in enumerate(labels)}

    loaded, loaded_tokenizer, loaded_meta = load_model(out, "cpu")
    assert loaded_meta.labels == labels and not loaded.training
    assert tokenizer_fingerprint(loaded_tokenizer) == tokenizer_fingerprint(tokenizer)
    input_ids, attention_mask, gold = random_batch(len(tokenizer), len(labels), 5, 14, seed=7)
    label_mask = gold != -100
    assert loaded.decode(input_ids, attention_mask, label_mask) == model.decode(
        input_ids, attention_mask, label_mask
    )
    with torch.no_grad():
        plain_logits = plain(input_ids=input_ids, attention_mask=attention_mask).logits
        assert torch.equal(plain_logits, model(input_ids, attention_mask)[1])
    with pytest.raises(ValueError, match="extra_meta"):
        save_model(model, tmp_path / "again", tokenizer, {})


def test_pipeline_label_keeps_odd_type_names() -> None:
    odd = ["a-b", "v1.6", "组织-机构", "x--y", "B-C", "S"]
    for entity_type in odd:
        assert pipeline_label(f"S-{entity_type}") == f"B-{entity_type}"
        assert pipeline_label(f"E-{entity_type}") == f"I-{entity_type}"
        assert pipeline_label(f"B-{entity_type}") == f"B-{entity_type}"
        assert pipeline_label(f"I-{entity_type}") == f"I-{entity_type}"
    assert pipeline_label("O") == "O"
    for bad in ("X-a", "name:q0", "S", ""):
        with pytest.raises(ValueError, match="tag"):
            pipeline_label(bad)


def test_load_accepts_old_raw_id2label_and_rejects_others(tokenizer, tmp_path: Path) -> None:
    """Folders saved before the pipeline naming (raw S-/E- names) still load; re-saving
    one writes the pipeline names; an id2label matching neither fails clearly."""
    labels = label_list(TYPES, "BIOES")
    torch.manual_seed(4)
    model = build_model(tiny_cfg("crf", "BIOES"), labels, tokenizer).eval()
    out = save_model(model, tmp_path / "model", tokenizer, {"tokenization": "char", "max_len": 32})
    config_path = out / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))

    def rewrite(names: list[str]) -> None:
        config["id2label"] = {str(i): name for i, name in enumerate(names)}
        config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")

    rewrite(labels)  # the old naming
    loaded, _, _ = load_model(out, "cpu")
    input_ids, attention_mask, gold = random_batch(len(tokenizer), len(labels), 3, 10, seed=2)
    label_mask = gold != -100
    assert loaded.decode(input_ids, attention_mask, label_mask) == model.decode(
        input_ids, attention_mask, label_mask
    )
    again = save_model(
        loaded, tmp_path / "again", tokenizer, {"tokenization": "char", "max_len": 32}
    )
    saved = json.loads((again / "config.json").read_text(encoding="utf-8"))
    assert list(saved["id2label"].values()) == [pipeline_label(label) for label in labels]
    assert saved["label2id"] == {label: i for i, label in enumerate(labels)}

    rewrite([f"LABEL_{i}" for i in range(len(labels))])
    with pytest.raises(ValueError, match="id2label"):
        load_model(out, "cpu")
    rewrite(list(reversed(labels)))
    with pytest.raises(ValueError, match="matches neither"):
        load_model(out, "cpu")


def test_span_head_outputs_are_exported_unchanged(tokenizer, tmp_path: Path) -> None:
    from transformers import AutoConfig

    labels = label_list(TYPES, "BIOES")
    cfg = {**tiny_cfg("span", "BIOES"), "span_head_size": 2}
    model = build_model(cfg, labels, tokenizer).eval()
    out = save_model(model, tmp_path / "model", tokenizer, {"tokenization": "char", "max_len": 32})
    config = AutoConfig.from_pretrained(str(out))
    outputs = model.head.outputs
    assert list(config.id2label.values()) == outputs
    assert outputs[:2] == ["address:q0", "address:q1"]
    assert config.label2id == {name: i for i, name in enumerate(outputs)}
    load_model(out, "cpu")


def test_local_encoder_directory_builds_and_trains_one_step(tokenizer, tmp_path: Path) -> None:
    """A save_pretrained folder (with another label count) works as ``encoder: <dir>``."""
    from transformers import BertConfig, BertForTokenClassification

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=40,
        num_labels=2,
    )
    torch.manual_seed(0)
    BertForTokenClassification(config).save_pretrained(str(tmp_path / "encoder"))
    tokenizer.save_pretrained(str(tmp_path / "encoder"))
    labels = label_list(TYPES, "BIOS")
    model = build_model(tiny_cfg("crf", encoder=str(tmp_path / "encoder")), labels, tokenizer)
    assert model.emitter.model.config.num_labels == len(labels)
    config = model.emitter.model.config
    assert config.id2label == {i: pipeline_label(label) for i, label in enumerate(labels)}
    assert config.id2label[labels.index("S-name")] == "B-name"
    assert config.label2id["S-name"] == labels.index("S-name")
    input_ids, attention_mask, gold = random_batch(len(tokenizer), len(labels))
    gold[gold >= 0] = 0
    optimizer = torch.optim.AdamW(model.param_groups(1e-3, 1e-2, 0.01))
    before = model.emitter.model.bert.embeddings.word_embeddings.weight.detach().clone()
    loss, _ = model(input_ids, attention_mask, gold)
    loss.backward()
    optimizer.step()
    after = model.emitter.model.bert.embeddings.word_embeddings.weight
    assert not torch.equal(before, after)
    too_long = {**tiny_cfg(encoder=str(tmp_path / "encoder")), "max_len": 64}
    with pytest.raises(ValueError, match="max_len"):
        build_model(too_long, labels, tokenizer)


def test_non_transformer_emitter_plugs_in() -> None:
    """Any Emitter subclass works as the emission model (interface for e.g. a BiLSTM)."""
    from nerflow.models.emitter import Emitter

    class Lookup(Emitter):
        kind = "lookup"

        def __init__(self, n_labels: int) -> None:
            super().__init__()
            self.table = torch.nn.Embedding(20, n_labels)
            self.out = torch.nn.Linear(n_labels, n_labels)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.out(self.table(input_ids))

        def head_parameters(self) -> list[torch.nn.Parameter]:
            return list(self.out.parameters())

    labels = label_list(["X"], "BIOES")
    model = TaggerModel(Lookup(len(labels)), labels, "BIOES", "crf")
    groups = {g["name"]: g for g in model.param_groups(1e-3, 1e-2, 0.0)}
    assert sum(p.numel() for p in groups["encoder"]["params"]) == 20 * len(labels)
    ids = torch.randint(0, 20, (3, 6))
    loss, _ = model(ids, torch.ones_like(ids), torch.zeros_like(ids))
    loss.backward()
    decoded = model.decode(ids, torch.ones_like(ids), torch.ones_like(ids, dtype=torch.bool))
    assert all(is_valid_sequence([labels[i] for i in d], "BIOES") for d in decoded)


# --------------------------------------------------------------------------- vocab


def test_build_char_vocab_order_and_whitespace() -> None:
    vocab = build_char_vocab(["北京 北京\t上海", "京ab\u3000"], min_freq=1)
    assert vocab[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert vocab[len(SPECIAL_TOKENS) :] == ["京", "北", "a", "b", "上", "海"]
    assert build_char_vocab(["北京 北京上海"], min_freq=2)[5:] == ["京", "北"]


def test_char_tokenizer_round_trip(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    vocab = build_char_vocab(["北京ac米兰CS1.6", "Tom在上海"])
    save_char_tokenizer(vocab, tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert loaded.is_fast and len(loaded) == len(vocab)
    ids = loaded(list("北京CS1.6Tom"), is_split_into_words=True, add_special_tokens=False)
    assert loaded.unk_token_id not in ids["input_ids"]  # cased, every character known
    assert loaded.convert_ids_to_tokens(ids["input_ids"])[:4] == ["北", "京", "C", "S"]
    again = load_tokenizer(tmp_path / "tok")
    assert tokenizer_fingerprint(again) == tokenizer_fingerprint(loaded)
    other = save_char_tokenizer(build_char_vocab(["北京"]), tmp_path / "other")
    assert tokenizer_fingerprint(other) != tokenizer_fingerprint(loaded)
    with pytest.raises(ValueError, match="special"):
        save_char_tokenizer(["北", "京"], tmp_path / "bad")


# --------------------------------------------------------------------------- bilstm + features


def bilstm_cfg(head: str = "crf", scheme: str = "BIOES", **features) -> dict:
    """A tiny BiLSTM experiment (2 layers so that inter-layer code runs)."""
    return {
        "encoder": "bilstm",
        "bilstm": {"embedding_dim": 16, "hidden": 12, "layers": 2, "dropout": 0.1},
        "features": features,
        "head": head,
        "tokenization": "char",
        "max_len": 32,
        "stride": 8,
        "scheme": scheme,
    }


def tiny_featurizer(tmp_path: Path, **overrides):
    from nerflow.features.featurizer import build_feature_assets

    words = tmp_path / "words.txt"
    words.write_text("北京 9 ns\n银行 9 n\n北京银行 3 nt\n叶老桂 1 nr\n", encoding="utf-8")
    records = [
        Record(0, "叶老桂在北京银行", [Span(0, 2, "name"), Span(4, 7, "company")]),
        Record(1, "上海银行", [Span(0, 3, "company")]),
        Record(2, "北京的大学生", [Span(0, 1, "address")]),
    ]
    spec = {
        "bigram": True,
        "lexicon": True,
        "lexicon_words": True,
        "bigram_min_freq": 1,
        "lexicon_path": str(words),
        "gazetteer": True,
        "gazetteer_folds": 2,
    }
    spec.update(overrides)
    texts = [r.text for r in records]
    return build_feature_assets(texts, spec, tmp_path / "assets", records), spec


def feature_batch(featurizer, tokenizer, texts: list[str]):
    """Padded ids, mask, label mask and feature tensors of ``texts`` (char mode)."""
    from nerflow.tensors import pad, padding_mask
    from nerflow.text.tokenization import tokenize

    toks = [tokenize(text, tokenizer, "char") for text in texts]
    ids = [t.input_ids for t in toks]
    input_ids, attention_mask = pad(ids, tokenizer.pad_token_id), padding_mask(ids)
    label_mask = torch.zeros_like(attention_mask, dtype=torch.bool)
    for row, tok in enumerate(toks):
        label_mask[row, : len(tok)] = torch.tensor(tok.labelled)
    rows = [featurizer.encode(text, tok) for text, tok in zip(texts, toks, strict=True)]
    width = input_ids.size(1)
    features = {
        name: pad([torch.from_numpy(row[name]) for row in rows], 0, width) for name in rows[0]
    }
    return input_ids, attention_mask, label_mask, features


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_bilstm_forward_backward(head: str, tokenizer) -> None:
    from nerflow.models.bilstm import BiLSTMEmitter

    labels = label_list(TYPES, "BIOES")
    torch.manual_seed(0)
    model = build_model(bilstm_cfg(head), labels, tokenizer)
    assert isinstance(model.emitter, BiLSTMEmitter) and model.featurizer is None
    input_ids, attention_mask, gold = random_batch(len(tokenizer), len(labels))
    gold = torch.where(gold >= 0, torch.zeros_like(gold), gold)  # all "O": valid
    loss, logits = model(input_ids, attention_mask, gold)
    assert logits.shape == (4, 12, len(labels))
    assert loss is not None and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.emitter.classifier.weight.grad.abs().sum() > 0
    assert model.emitter.embeddings.weight.grad.abs().sum() > 0
    for lstm in (*model.emitter.forward_lstms, *model.emitter.backward_lstms):
        assert lstm.weight_hh_l0.grad.abs().sum() > 0
    groups = {g["name"]: g for g in model.param_groups(1e-3, 1e-2, 0.01)}
    head_ids = {id(p) for p in groups["head"]["params"] + groups["head_no_decay"]["params"]}
    assert id(model.emitter.classifier.weight) in head_ids
    if head == "crf":
        assert id(model.crf.transitions) in head_ids
    with pytest.raises(ValueError, match="feature"):
        model(input_ids, attention_mask, bigram_ids=torch.zeros(4, 12, 2, dtype=torch.long))


def test_bilstm_ignores_padding(tokenizer) -> None:
    """Right padding changes nothing for the real positions, in both directions."""
    labels = label_list(TYPES, "BIO")
    torch.manual_seed(0)
    model = build_model(bilstm_cfg("crf", "BIO"), labels, tokenizer).eval()
    ids = torch.randint(5, len(tokenizer), (1, 7))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 7), torch.zeros(1, 5)], dim=1).long()
    with torch.no_grad():
        alone = model(ids, torch.ones_like(ids))[1]
        batched = model(padded, mask)[1][:, :7]
        both = model(
            torch.cat([padded, torch.randint(5, 30, (1, 12))]),
            torch.cat([mask, torch.ones(1, 12).long()]),
        )[1]
    assert torch.allclose(alone, batched, atol=1e-5)
    assert torch.allclose(alone, both[:1, :7], atol=1e-5)


def test_bilstm_with_features_save_load_round_trip(tokenizer, tmp_path: Path) -> None:
    from nerflow.features.bigrams import BIGRAM_FILE
    from nerflow.features.featurizer import SPEC_FILE
    from nerflow.features.gazetteer import GAZETTEER_FILE
    from nerflow.features.lexicon import LEXICON_FILE, WORDS_FILE
    from nerflow.models.bilstm import BILSTM_CONFIG_FILE, BILSTM_WEIGHTS_FILE

    featurizer, spec = tiny_featurizer(tmp_path)
    labels = label_list(TYPES, "BIOS")
    cfg = {**bilstm_cfg("crf", "BIOS", **spec), "feature_dir": str(tmp_path / "assets")}
    torch.manual_seed(4)
    model = build_model(cfg, labels, tokenizer).eval()
    assert model.featurizer is not None
    assert model.featurizer.fingerprint() == featurizer.fingerprint()
    texts = ["叶老桂在北京银行", "上海", "北京的大学生在上海银行", ""]
    input_ids, attention_mask, label_mask, feats = feature_batch(featurizer, tokenizer, texts)
    with pytest.raises(ValueError, match="missing"):
        model(input_ids, attention_mask)
    out = save_model(model, tmp_path / "model", tokenizer, {"tokenization": "char", "max_len": 32})
    for name in (BILSTM_CONFIG_FILE, BILSTM_WEIGHTS_FILE, CRF_FILE, SPEC_FILE, GAZETTEER_FILE):
        assert (out / name).exists(), name
    assert (out / LEXICON_FILE).exists() and (out / BIGRAM_FILE).exists()
    assert (out / WORDS_FILE).exists()
    assert not (out / "config.json").exists()
    umask = os.umask(0)
    os.umask(umask)
    modes = {path.name: path.stat().st_mode & 0o777 for path in out.iterdir()}
    assert set(modes.values()) == {0o666 & ~umask}, modes  # safetensors' 0600 included
    meta = json.loads((out / HEAD_FILE).read_text(encoding="utf-8"))
    assert (
        meta["emitter"] == "bilstm" and meta["features"]["fingerprint"] == featurizer.fingerprint()
    )

    shutil.rmtree(tmp_path / "assets")  # the model folder must be self-contained
    loaded, loaded_tokenizer, _ = load_model(out, "cpu")
    assert loaded.featurizer.fingerprint() == featurizer.fingerprint()
    again = feature_batch(loaded.featurizer, loaded_tokenizer, texts)
    for name, tensor in feats.items():
        assert torch.equal(tensor, again[3][name])
    with torch.no_grad():
        assert torch.equal(
            model(input_ids, attention_mask, **feats)[1], loaded(*again[:2], **again[3])[1]
        )
    assert loaded.decode(*again[:3], **again[3]) == model.decode(
        input_ids, attention_mask, label_mask, **feats
    )

    plain = build_model(bilstm_cfg("softmax", "BIOS"), labels, tokenizer)
    save_model(plain, out, tokenizer, {"tokenization": "char", "max_len": 32})  # overwrite
    assert not (out / SPEC_FILE).exists() and not (out / CRF_FILE).exists()
    assert load_model(out, "cpu")[0].featurizer is None


def test_features_are_found_in_the_tokenizer_folder(tmp_path: Path) -> None:
    from nerflow.features.featurizer import build_feature_assets

    tokenizer_dir = tmp_path / "tokenizer"
    texts = ["叶老桂在北京银行", "上海银行"]
    save_char_tokenizer(build_char_vocab(texts), tokenizer_dir)
    spec = {"bigram": True, "bigram_min_freq": 1}
    featurizer = build_feature_assets(texts, spec, tokenizer_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    model = build_model(bilstm_cfg("crf", "BIOS", **spec), label_list(TYPES, "BIOS"), tokenizer)
    assert model.featurizer.fingerprint() == featurizer.fingerprint()
    assert model.emitter.config["bigram_vocab_size"] == len(featurizer.part("bigram").vocab)
    with pytest.raises(ValueError, match="built for"):
        build_model(bilstm_cfg("crf", "BIOS", bigram=True, lexicon=True), ["O"], tokenizer)


def test_scratch_transformer_with_features_round_trip(tokenizer, tmp_path: Path) -> None:
    from nerflow.models.transformer import EMITTER_FEATURES_FILE

    featurizer, spec = tiny_featurizer(tmp_path)
    labels = label_list(TYPES, "BIO")
    cfg = {**tiny_cfg("crf", "BIO"), "features": spec, "feature_dir": str(tmp_path / "assets")}
    torch.manual_seed(5)
    model = build_model(cfg, labels, tokenizer)
    texts = ["叶老桂在北京银行", "在上海银行"]  # the second one matches the gazetteer
    input_ids, attention_mask, label_mask, feats = feature_batch(featurizer, tokenizer, texts)
    gold = torch.where(label_mask, 0, -100)
    loss, _ = model(input_ids, attention_mask, gold, **feats)
    loss.backward()
    assert model.emitter.feature_inputs.bigram.weight.grad.abs().sum() > 0
    assert model.emitter.feature_inputs.lexicon.weight.grad.abs().sum() > 0
    assert model.emitter.feature_inputs.words.weight.grad.abs().sum() > 0
    assert model.emitter.feature_inputs.gazetteer.weight.grad.abs().sum() > 0
    model.eval()
    out = save_model(model, tmp_path / "model", tokenizer, {"tokenization": "char", "max_len": 32})
    assert (out / EMITTER_FEATURES_FILE).exists()
    loaded, _, _ = load_model(out, "cpu")
    with torch.no_grad():
        expected = model(input_ids, attention_mask, **feats)[1]
        assert torch.equal(loaded(input_ids, attention_mask, **feats)[1], expected)


def test_bilstm_token_dropout_only_in_training(tokenizer) -> None:
    labels = label_list(TYPES, "BIOS")
    cfg = bilstm_cfg("softmax", "BIOS")
    cfg["bilstm"] = {**cfg["bilstm"], "token_dropout": 1.0}
    model = build_model(cfg, labels, tokenizer)
    emitter = model.emitter
    assert emitter.config["unk_id"] == tokenizer.unk_token_id
    input_ids, attention_mask, _ = random_batch(len(tokenizer), len(labels))
    input_ids[:, 0] = tokenizer.cls_token_id
    bigrams = torch.full((*input_ids.shape, 2), 7)
    dropped, features = emitter._drop_tokens(input_ids, attention_mask, {"bigram_ids": bigrams})
    real = attention_mask.bool() & (input_ids != tokenizer.cls_token_id)
    assert (dropped[real] == tokenizer.unk_token_id).all()
    assert torch.equal(dropped[~real], input_ids[~real])  # specials and padding stay
    assert (features["bigram_ids"][real] == 1).all() and (features["bigram_ids"][~real] == 7).all()
    emitter.eval()
    assert emitter._drop_tokens(input_ids, attention_mask, {})[0] is input_ids
