"""Span head (GlobalPointer): rotary scores, masking, loss, decoding, nested spans,
window merging and training end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_scratch

from nerflow.data.records import Record, Span
from nerflow.evaluation.scoring import score
from nerflow.heads.span import scored_cells
from nerflow.inference.predict import predict_records
from nerflow.models.factory import build_model
from nerflow.models.folder import load_model, save_model
from nerflow.models.global_pointer import (
    MASKED,
    multilabel_crossentropy,
    rotary,
    span_scores,
    span_targets,
)
from nerflow.text.alignment import (
    merge_window_spans,
    scored_spans_from_token_spans,
    token_spans_from_spans,
)
from nerflow.text.tagging import label_list
from nerflow.text.tokenization import tokenize, windows
from nerflow.training.cache import build_cache
from nerflow.training.train import train

TYPES = ["address", "name"]


def test_rotary_scores_depend_on_relative_position_only() -> None:
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    width = 7
    qs = rotary(q.expand(1, width, 1, 8).contiguous())
    ks = rotary(k.expand(1, width, 1, 8).contiguous())
    dots = torch.einsum("bmhd,bnhd->mn", qs, ks)
    for offset in range(-3, 4):
        diagonal = torch.diagonal(dots, offset=offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-5)
    assert not torch.allclose(torch.diagonal(dots, 0)[0], torch.diagonal(dots, 2)[0])
    with pytest.raises(ValueError, match="even"):
        rotary(torch.randn(1, 3, 1, 5))


def test_span_scores_mask_invalid_cells() -> None:
    torch.manual_seed(0)
    valid = torch.tensor([[False, True, True, True, False], [False, True, False, False, False]])
    scores = span_scores(torch.randn(2, 5, 2 * 3 * 4), 3, 4, valid)
    assert scores.shape == (2, 3, 5, 5) and scores.dtype == torch.float32
    open_cells = scores > MASKED / 2
    # row 0: 3 valid positions -> 6 cells on/above the diagonal per type; row 1: 1 cell
    assert open_cells[0].sum() == 3 * 6 and open_cells[1].sum() == 3 * 1
    assert not open_cells[:, :, 3, 2].any()  # end before start
    assert not open_cells[:, :, 0, :].any() and not open_cells[:, :, :, 4].any()
    with pytest.raises(ValueError, match="outputs"):
        span_scores(torch.randn(1, 5, 7), 3, 4, valid[:1])


def test_loss_is_small_only_when_gold_is_above_zero_and_the_rest_below() -> None:
    targets = span_targets([torch.tensor([[1, 2, 0], [1, 1, 1]])], 2, 4)
    assert targets.sum() == 2 and targets[0, 0, 1, 2] == 1 and targets[0, 1, 1, 1] == 1
    perfect = torch.where(targets > 0, 20.0, -20.0)
    wrong = -perfect
    assert multilabel_crossentropy(perfect, targets) < 1e-6
    assert multilabel_crossentropy(wrong, targets) > 19
    masked = perfect.clone()
    masked[0, 0, 3, 0] = MASKED  # masked cells cost nothing
    assert torch.isfinite(multilabel_crossentropy(masked, targets))
    assert [[span[:3] for span in row] for row in scored_cells(perfect.numpy())] == [
        [(1, 1, 1), (1, 2, 0)]
    ]


def test_token_spans_keep_nested_spans_and_restore_them() -> None:
    text = "北京大学附属中学"
    spans = [Span(0, 3, "organization"), Span(0, 1, "address"), Span(0, 7, "organization")]
    tok = tokenize(text, _char_tokenizer(text), "char", 6)  # 4 content tokens kept
    kept, lost = token_spans_from_spans(tok, spans)
    assert sorted(kept) == [(1, 2, "address"), (1, 4, "organization")]
    assert lost == [(Span(0, 7, "organization"), "truncated")]
    restored = sorted(scored_spans_from_token_spans(tok, [(*s, 0.0) for s in kept]))
    assert restored == sorted([Span(0, 1, "address"), Span(0, 3, "organization")])


def test_merge_window_spans_keeps_the_owner_window_view() -> None:
    text = "ABCDEFGHIJKLMNOP"
    tokenizer = _char_tokenizer(text)
    parts = windows(text, tokenizer, "char", 10, 4)  # 8 content tokens, step 4
    assert len(parts) == 3
    # centrality (distance to the window edge) of chars 5/6/8: window 0 2/1/-, window 1
    # 1/2/3, window 2 -/-/0: char 5 belongs to window 0, chars 6 and 8 to window 1
    inner = Span(5, 6, "name")
    edge = Span(0, 1, "name")
    nested = Span(6, 9, "address")
    merged = merge_window_spans(
        len(text),
        parts,
        [[inner, edge, Span(6, 6, "name")], [inner, nested], [Span(8, 9, "name")]],
    )
    assert merged == sorted([edge, inner, nested])


def _char_tokenizer(text: str):
    import tempfile

    from nerflow.text.vocab import build_char_vocab, save_char_tokenizer

    folder = Path(tempfile.mkdtemp())
    save_char_tokenizer(build_char_vocab([text]), folder)
    from nerflow.text.vocab import load_tokenizer

    return load_tokenizer(folder)


NESTED_RECORDS = [
    Record(i, text, spans)
    for i, (text, spans) in enumerate(
        [
            ("我在北京大学读书", [Span(2, 5, "name"), Span(2, 3, "address")]),
            ("上海很大", [Span(0, 1, "address")]),
            ("张三去了北京", [Span(0, 1, "name"), Span(4, 5, "address")]),
            ("李四在上海大学", [Span(0, 1, "name"), Span(3, 6, "name"), Span(3, 4, "address")]),
        ]
        * 3
    )
]


@pytest.mark.parametrize("encoder", ["bilstm", "scratch"])
def test_span_head_learns_nested_spans_and_round_trips(
    encoder: str, tokenizer, tmp_path: Path
) -> None:
    labels = label_list(TYPES, "BIOS")
    cfg = {
        "encoder": encoder,
        "bilstm": {"embedding_dim": 32, "hidden": 32, "dropout": 0.0},
        "scratch": tiny_scratch(64),
        "head": "span",
        "span_head_size": 16,
        "tokenization": "char",
        "max_len": 32,
        "stride": 8,
        "scheme": "BIOS",
        "train": {
            "epochs": 40,
            "batch_size": 4,
            "lr": 5e-3,
            "head_lr": 1e-2,
            "warmup_ratio": 0.0,
            "weight_decay": 0.0,
            "seed": 3,
            "patience": 0,
        },
    }
    cache = build_cache(NESTED_RECORDS, tokenizer, "char", 32, "BIOS", labels, stride=8)
    assert cache.spans[0].tolist() == [[3, 6, 1], [3, 4, 0]] or sorted(cache.spans[0].tolist()) == [
        [3, 4, 0],
        [3, 6, 1],
    ]
    summary = train(
        cfg,
        cache,
        NESTED_RECORDS,
        tokenizer,
        labels,
        tmp_path / "out",
        tmp_path / "log.jsonl",
        1,
        None,
    )
    assert summary["best_metric"] == 1.0  # nested gold spans all recovered
    model, tok_back, meta = load_model(tmp_path / "out" / "model", "cpu")
    assert meta.head == "span" and meta.head_settings["span_head_size"] == 16
    predictions = predict_records(model, tok_back, NESTED_RECORDS, "char", 32, 8, "BIOS")
    assert predictions[0].spans == sorted(NESTED_RECORDS[0].spans)
    assert score(NESTED_RECORDS, predictions, TYPES)["micro"]["f1"] == 1.0
    # sliding windows narrower than the texts give the same spans on short entities
    narrow = predict_records(model, tok_back, NESTED_RECORDS[:3], "char", 6, 2, "BIOS")
    assert narrow[1].spans == NESTED_RECORDS[1].spans
    decoded = model.decode(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3), torch.ones(1, 3))
    assert all(isinstance(span, tuple) and span[2] in TYPES for span in decoded[0])
    fresh = build_model(cfg, labels, tokenizer)
    with pytest.raises(ValueError, match="gold spans"):
        fresh(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3), torch.zeros(1, 3).long())
    save_model(model, tmp_path / "again", tok_back, {"tokenization": "char", "max_len": 32})
    assert load_model(tmp_path / "again", "cpu")[0].head.name == "span"
