"""Prediction: sliding windows, batching, merging and exact spans on the original text."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_experiment

from nerflow.data.cluener import read_records, write_records
from nerflow.data.records import Record, Span
from nerflow.inference.predict import predict_file, predict_records
from nerflow.models.emitter import Emitter
from nerflow.models.factory import build_model
from nerflow.models.folder import save_model
from nerflow.models.tagger import TaggerModel
from nerflow.tensors import pad, padding_mask
from nerflow.text.tagging import SCHEMES, label_list, spans_to_tags

# Every character has one role, so a context-free emitter can tag it exactly.
ENTITIES = {"浙商银行": "company", "叶老桂": "name", "北京": "address", "那不勒斯": "org"}
SINGLE = {"中": "country"}  # one-character entity
FILLER = "的我在了是有人大学生呢，。"
TYPES = sorted(set(ENTITIES.values()) | set(SINGLE.values()))


class LookupEmitter(Emitter):
    """Context-free emissions: a fixed score table per token id (a tagging oracle)."""

    kind = "lookup"

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.table[input_ids]

    def head_parameters(self) -> list[torch.nn.Parameter]:
        return []


def oracle_model(tokenizer, scheme: str, head: str) -> TaggerModel:
    """A tagger whose emitter scores each character's true role 10, everything else 0."""
    labels = label_list(TYPES, scheme)
    table = torch.zeros(len(tokenizer), len(labels))
    table[:, 0] = 10.0  # "O" by default
    words = {**ENTITIES, **SINGLE}
    for word, entity_type in words.items():
        tags = spans_to_tags(len(word), [Span(0, len(word) - 1, entity_type)], scheme)
        for char, tag in zip(word, tags, strict=True):
            token_id = tokenizer.convert_tokens_to_ids(char)
            assert token_id != tokenizer.unk_token_id, char
            table[token_id] = 0.0
            table[token_id, labels.index(tag)] = 10.0
    return TaggerModel(LookupEmitter(table), labels, scheme, head).eval()


def long_record(record_id: int, n_entities: int, seed: int) -> Record:
    """A text of entities separated by filler, with its gold spans."""
    rng = random.Random(seed)
    words = {**ENTITIES, **SINGLE}
    text, spans = "", []
    for _ in range(n_entities):
        text += "".join(rng.choice(FILLER) for _ in range(rng.randint(0, 4)))
        word = rng.choice(sorted(words))
        spans.append(Span(len(text), len(text) + len(word) - 1, words[word]))
        text += word
    return Record(record_id, text, spans)


@pytest.mark.parametrize("mode", ["char", "wordpiece"])
@pytest.mark.parametrize("head", ["softmax", "crf"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_sliding_windows_restore_gold_exactly(scheme: str, head: str, mode: str, tokenizer) -> None:
    model = oracle_model(tokenizer, scheme, head)
    max_len = 24
    records = [long_record(i, 30, seed=i) for i in range(4)] + [Record("short", "北京", [])]
    records[-1].spans = [Span(0, 1, "address")]
    assert all(len(r.text) > 5 * max_len for r in records[:4])
    common = {"mode": mode, "scheme": scheme, "labels": model.labels, "device": "cpu"}
    windowed = predict_records(model, tokenizer, records, max_len=max_len, stride=8, **common)
    single = predict_records(model, tokenizer, records, max_len=512, stride=32, **common)
    tiny_batches = predict_records(
        model, tokenizer, records, max_len=max_len, stride=8, batch_size=1, **common
    )
    for gold, pred, one, tiny in zip(records, windowed, single, tiny_batches, strict=True):
        assert pred.id == gold.id and pred.text == gold.text
        assert pred.spans == sorted(gold.spans)
        assert one.spans == pred.spans == tiny.spans


def test_predictions_copy_ids_and_texts(tokenizer) -> None:
    """Unknown characters, spaces, empty and long texts: output text is the input text."""
    labels = label_list(TYPES, "BIOS")
    cfg = tiny_experiment("crf", "BIOS", max_len=16, stride=4)
    torch.manual_seed(0)
    model = build_model(cfg, labels, tokenizer)
    model.train()
    texts = ["", "北京 Tom Cruise 龘😀", "叶老桂" * 20, "\u200b中。", "ac米兰CS1.6"]
    records = [Record(f"r{i}", text, []) for i, text in enumerate(texts)]
    out = predict_records(model, tokenizer, records, "char", 16, 4, "BIOS", labels, 3, "cpu")
    assert model.training  # mode restored
    assert [(r.id, r.text) for r in out] == [(r.id, r.text) for r in records]
    for record in out:
        assert all(0 <= s.start <= s.end < len(record.text) for s in record.spans)
        assert all(s.label in TYPES for s in record.spans)
    with pytest.raises(ValueError, match="labels"):
        predict_records(model, tokenizer, records, "char", 16, 4, "BIOS", labels[:-1])


def test_pad_and_padding_mask() -> None:
    ids, mask = pad([[5, 6, 7], [8]], 0), padding_mask([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    features = pad([torch.ones(2, 3, dtype=torch.bool), torch.ones(1, 3, dtype=torch.bool)], 0, 4)
    assert features.shape == (2, 4, 3) and features.dtype == torch.bool
    assert features.sum().item() == 9
    assert pad([[1]], -100, 3).tolist() == [[1, -100, -100]]
    assert pad([[True, False], [True]], 0).bool().tolist() == [[True, False], [True, False]]
    assert pad([(1, 2)], 0).dtype == torch.long and pad([], 0).shape == (0, 0)
    with pytest.raises(ValueError, match="longer than the width 1"):
        pad([[1, 2]], 0, 1)


def test_predict_file_uses_saved_settings(tokenizer, tmp_path: Path) -> None:
    labels = label_list(TYPES, "BIOES")
    cfg = tiny_experiment("softmax", "BIOES", tokenization="wordpiece", max_len=16, stride=4)
    torch.manual_seed(0)
    model = build_model(cfg, labels, tokenizer)
    meta = {"tokenization": "wordpiece", "max_len": 16, "stride": 4}
    save_model(model, tmp_path / "model", tokenizer, meta)
    records = [long_record(i, 8, seed=i) for i in range(5)]
    write_records(tmp_path / "in.jsonl", records)
    count = predict_file(
        tmp_path / "model", tmp_path / "in.jsonl", tmp_path / "out.jsonl", 2, "cpu"
    )
    assert count == 5
    out = read_records(tmp_path / "out.jsonl")
    assert [(r.id, r.text) for r in out] == [(r.id, r.text) for r in records]
    expected = predict_records(
        model.eval(), tokenizer, records, "wordpiece", 16, 4, "BIOES", labels, 8, "cpu"
    )
    assert [r.spans for r in out] == [r.spans for r in expected]
    first = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"id", "text", "label"}


class SpyEmitter(Emitter):
    """Records the ids, mask and feature tensors it is called with; emits "O" everywhere."""

    kind = "spy"

    def __init__(self, n_labels: int) -> None:
        super().__init__()
        self.n_labels = n_labels
        self.calls: list[tuple[torch.Tensor, torch.Tensor, dict]] = []

    def forward(self, input_ids, attention_mask, **features):
        self.calls.append((input_ids.clone(), attention_mask.clone(), features))
        logits = torch.zeros(*input_ids.shape, self.n_labels)
        logits[..., 0] = 1.0
        return logits

    def head_parameters(self) -> list[torch.nn.Parameter]:
        return []


def test_windows_get_the_features_of_the_full_text(tokenizer, tmp_path: Path) -> None:
    from nerflow.features.featurizer import build_featurizer
    from nerflow.text.tokenization import windows

    words = tmp_path / "words.txt"
    words.write_text("浙商银行 5 nt\n叶老桂 3 nr\n北京 9 ns\n那不勒斯 2 ns\n", encoding="utf-8")
    records = [long_record(i, 12, seed=10 + i) for i in range(3)]
    featurizer = build_featurizer(
        [r.text for r in records],
        {"bigram": True, "lexicon": True, "bigram_min_freq": 1, "lexicon_path": str(words)},
    )
    labels = label_list(TYPES, "BIOS")
    emitter = SpyEmitter(len(labels))
    model = TaggerModel(emitter, labels, "BIOS", "softmax", featurizer)
    out = predict_records(model, tokenizer, records, "char", 12, 3, "BIOS", labels, 4, "cpu")
    assert all(not r.spans for r in out)
    expected = {}
    differs = 0
    for record in records:
        full = featurizer.char_features(record.text)
        for tok in windows(record.text, tokenizer, "char", 12, 3):
            want = featurizer.token_features(tok, full)
            expected.setdefault(tuple(tok.input_ids), []).append(want)
            local = featurizer.encode(
                record.text[tok.char_start : tok.char_end],
                windows(record.text[tok.char_start : tok.char_end], tokenizer, "char", 12, 3)[0],
            )
            differs += any(not np.array_equal(local[k], want[k]) for k in want)
    assert differs > 0  # window-local features would differ at the edges
    n_rows = 0
    for input_ids, attention_mask, features in emitter.calls:
        assert set(features) == {"bigram_ids", "lexicon_bits"}
        for row in range(input_ids.size(0)):
            n = int(attention_mask[row].sum())
            candidates = expected[tuple(input_ids[row, :n].tolist())]
            got = {name: tensor[row, :n] for name, tensor in features.items()}
            assert any(all(np.array_equal(got[k], c[k]) for k in c) for c in candidates)
            assert all(tensor[row, n:].abs().sum() == 0 for tensor in features.values())
            n_rows += 1
    assert n_rows == sum(len(v) for v in expected.values())
