"""Prediction: sliding windows, batching, merging and exact spans on the original text."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from nerflow.models import Emitter, TaggerModel, build_model, save_model
from nerflow.predict import pad_batch, predict_file, predict_records
from nerflow.records import Record, Span, read_records, write_records
from nerflow.tagging import SCHEMES, label_list, spans_to_tags

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
    cfg = {
        "encoder": "scratch",
        "scratch": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "dropout": 0.0},
        "head": "crf",
        "tokenization": "char",
        "max_len": 16,
        "scheme": "BIOS",
    }
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


def test_pad_batch() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_predict_file_uses_saved_settings(tokenizer, tmp_path: Path) -> None:
    labels = label_list(TYPES, "BIOES")
    cfg = {
        "encoder": "scratch",
        "scratch": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "dropout": 0.0},
        "head": "softmax",
        "tokenization": "wordpiece",
        "max_len": 16,
        "scheme": "BIOES",
    }
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
