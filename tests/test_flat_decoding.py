"""The span head's decoding policy: the flat selection (weighted interval scheduling),
``auto`` resolved from the training data's nesting, the policy saved with the model, flat
on merged windows, flat ensemble votes, and a workflow run decoding flat."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
import torch
from conftest import TYPES, make_records, tiny_experiment, tiny_train
from workflow_helpers import copy_workflow, snakemake, tiny_data_config, write_config

from nerflow.data.cluener import read_records
from nerflow.data.records import Record, Span
from nerflow.data.spans import (
    FLAT,
    NESTED,
    best_flat_spans,
    nesting,
    overlapping_pairs,
    resolve_span_decoding,
)
from nerflow.inference.ensemble import vote
from nerflow.inference.predict import predict_records
from nerflow.models.factory import build_model
from nerflow.models.folder import HEAD_FILE, load_model, save_model
from nerflow.text.alignment import token_spans_from_spans, window_owners
from nerflow.text.tagging import label_list
from nerflow.text.tokenization import windows
from nerflow.training.cache import build_cache
from nerflow.training.train import cache_nesting, train

LABELS = label_list(TYPES, "BIOS")


def overlaps(records: list[Record]) -> int:
    return nesting(record.spans for record in records)["overlapping_pairs"]


# --------------------------------------------------------------------------- flat selection


def test_flat_selection_keeps_the_best_total_not_the_best_span() -> None:
    outer, left, right = Span(0, 5, "name"), Span(0, 1, "address"), Span(3, 5, "company")
    assert best_flat_spans({outer: 3.0, left: 2.0, right: 2.0}) == [left, right]  # greedy: outer
    assert best_flat_spans({outer: 5.0, left: 2.0, right: 2.0}) == [outer]
    crossing = {Span(0, 3, "name"): 1.0, Span(2, 5, "name"): 2.0, Span(6, 7, "name"): 0.5}
    assert best_flat_spans(crossing) == [Span(2, 5, "name"), Span(6, 7, "name")]
    assert best_flat_spans({}) == []
    assert best_flat_spans({Span(0, 0, "name"): 0.0, Span(1, 1, "name"): -1.0}) == []


def test_flat_selection_ties_are_deterministic() -> None:
    first, second = Span(0, 3, "name"), Span(2, 5, "name")
    assert best_flat_spans({first: 1.0, second: 1.0}) == [first]  # ends first
    assert best_flat_spans({second: 1.0, first: 1.0}) == [first]  # whatever the input order
    outer, inner = Span(0, 5, "name"), Span(2, 3, "name")
    assert best_flat_spans({outer: 1.0, inner: 1.0}) == [inner]
    same = {Span(0, 3, "name"): 1.0, Span(0, 3, "company"): 1.0}
    assert best_flat_spans(same) == [Span(0, 3, "company")]  # the smaller type name
    assert best_flat_spans({Span(2, 3, "name"): 1.0, Span(0, 3, "name"): 1.0}) == [
        Span(0, 3, "name")  # same end: starts first
    ]


def test_flat_selection_is_the_brute_force_optimum() -> None:
    rng = random.Random(0)
    for _ in range(200):
        weights = {}
        for _ in range(rng.randint(0, 8)):
            start = rng.randint(0, 9)
            weights[Span(start, start + rng.randint(0, 4), rng.choice(TYPES))] = round(
                rng.uniform(0.1, 3.0), 1
            )
        kept = best_flat_spans(weights)
        assert not list(overlapping_pairs(kept)) and kept == sorted(kept)
        best = max(
            sum(weights[s] for s in subset)
            for n in range(len(weights) + 1)
            for subset in itertools.combinations(sorted(weights), n)
            if not list(overlapping_pairs(list(subset)))
        )
        assert sum(weights[s] for s in kept) == pytest.approx(best)


# --------------------------------------------------------------------------- auto


def test_nesting_counts_overlapping_pairs_and_records() -> None:
    records = [
        [Span(0, 5, "name"), Span(0, 1, "address"), Span(3, 4, "address"), Span(0, 5, "name")],
        [Span(0, 1, "name")],
        [],
    ]
    assert nesting(records) == {
        "records": 3,
        "spans": 4,
        "overlapping_pairs": 2,
        "records_with_overlaps": 1,
    }


def test_auto_is_flat_when_train_is_flat_and_explicit_policies_win() -> None:
    cluener = {"records": 10748, "spans": 23971, "overlapping_pairs": 2}  # raw CLUENER train
    nested = {"records": 100, "spans": 300, "overlapping_pairs": 40}
    assert resolve_span_decoding("auto", {**cluener, "overlapping_pairs": 0}) == FLAT
    assert resolve_span_decoding("auto", cluener) == FLAT
    assert resolve_span_decoding("auto", nested) == NESTED
    assert resolve_span_decoding("auto", None) == NESTED  # unknown: as before auto
    assert resolve_span_decoding("flat", nested) == FLAT
    assert resolve_span_decoding("nested", cluener) == NESTED
    with pytest.raises(ValueError, match="span decoding"):
        resolve_span_decoding("greedy", cluener)


def test_cache_nesting_joins_the_windows_of_a_record(tokenizer) -> None:
    text = "北京上海浙商银行企业信贷部叶老桂博士认为"  # 20 characters, windows of 8 sharing 4
    spans = [Span(4, 7, "company"), Span(4, 5, "address"), Span(13, 15, "name")]
    records = [Record(0, text, spans), Record(1, "北京", [Span(0, 1, "address")])]
    cache = build_cache(records, tokenizer, "char", 10, "BIOS", LABELS, stride=4)
    assert len(cache.ids) > 3  # the nested pair sits in two windows, counted once
    assert cache_nesting(cache) == {
        "records": 2,
        "spans": 4,
        "overlapping_pairs": 1,
        "records_with_overlaps": 1,
    }


def test_training_resolves_auto_and_saves_it_with_the_nesting(tokenizer, tmp_path: Path) -> None:
    records = make_records(8, seed=0)  # flat
    cfg = tiny_experiment("span", span_head_size=4, train=tiny_train(epochs=1))
    cache = build_cache(records, tokenizer, "char", 32, "BIOS", LABELS, stride=8)
    train(cfg, cache, records[:2], tokenizer, LABELS, tmp_path, tmp_path / "log.jsonl", 1, None)
    model, _, meta = load_model(tmp_path / "model", "cpu")
    assert meta.head_settings["span_decoding"] == FLAT and model.head.flat
    assert meta.train_nesting == nesting(r.spans for r in records)


# --------------------------------------------------------------------------- model folder


def test_the_model_folder_carries_the_policy(tokenizer, tmp_path: Path) -> None:
    model = build_model(tiny_experiment("span", span_head_size=4), LABELS, tokenizer)
    assert model.head.decoding == NESTED and not model.head.flat  # built: today's decoding
    model.head.set_decoding(FLAT)
    save_model(model, tmp_path / "flat", tokenizer, {"tokenization": "char", "max_len": 32})
    loaded, _, meta = load_model(tmp_path / "flat", "cpu")
    assert meta.head_settings["span_decoding"] == FLAT and loaded.head.flat
    head_file = tmp_path / "flat" / HEAD_FILE
    saved = json.loads(head_file.read_text("utf-8"))
    # a folder of format 1, saved before span_decoding existed: top-level head settings
    old = {k: v for k, v in saved.items() if k not in ("format", "head_settings")}
    old["span_head_size"] = saved["head_settings"]["span_head_size"]
    head_file.write_text(json.dumps(old), encoding="utf-8")
    assert load_model(tmp_path / "flat", "cpu")[0].head.decoding == NESTED  # an older folder
    head_file.write_text(json.dumps({**old, "span_decoding": "auto"}), encoding="utf-8")
    with pytest.raises(ValueError, match="span_decoding 'auto' is not flat or nested"):
        load_model(tmp_path / "flat", "cpu")
    crf = build_model(tiny_experiment("crf"), LABELS, tokenizer)
    assert crf.head.flat and crf.head.settings() == {}
    with pytest.raises(ValueError, match="span decoding"):
        model.head.set_decoding("auto")


# --------------------------------------------------------------------------- windows


def test_flat_holds_on_the_merged_windows(tokenizer) -> None:
    text = "北京上海浙商银行企业信贷部叶老桂博士认为"
    parts = windows(text, tokenizer, "char", 10, 4)
    owners = window_owners(len(text), parts)
    # a span owned by window 0 reaching into window 1, crossing one owned by window 1
    start_a = next(c for c in range(len(text)) if owners[c] == 0 and owners[c + 2] == 1)
    a, b = Span(start_a, start_a + 2, "company"), Span(start_a + 2, start_a + 3, "name")
    assert parts[0].char_end > a.end and parts[1].char_end > b.end and owners[b.start] == 1

    def scored(window: int, span: Span, score: float) -> tuple[int, int, str, float]:
        (token_span,), _ = token_spans_from_spans(parts[window], [span])
        return (*token_span, score)

    predictions = [[scored(0, a, 2.0)], [scored(1, b, 3.0)], *([] for _ in parts[2:])]
    head = build_model(tiny_experiment("span", span_head_size=4), LABELS, tokenizer).head
    # the windows are flat, nested decoding keeps both
    assert head.decoder.record_spans(len(text), parts, predictions, "BIOS") == [a, b]
    head.set_decoding(FLAT)
    assert head.decoder.record_spans(len(text), parts, predictions, "BIOS") == [b]


def test_a_flat_model_predicts_no_overlaps_through_windows(tokenizer) -> None:
    torch.manual_seed(0)
    model = build_model(tiny_experiment("span", span_head_size=4), LABELS, tokenizer).eval()
    records = [Record(r.id, r.text * 3) for r in make_records(6, seed=2)]  # several windows

    def predict() -> list[Record]:
        return predict_records(model, tokenizer, records, "char", 12, 4, "BIOS")

    nested = predict()  # random scores: about half of all cells are spans
    model.head.set_decoding(FLAT)
    flat = predict()
    assert overlaps(nested) > 0 and overlaps(flat) == 0
    assert all(set(f.spans) <= set(n.spans) for f, n in zip(flat, nested, strict=True))


# --------------------------------------------------------------------------- ensembles


def test_a_vote_of_flat_members_overlaps_only_below_a_majority() -> None:
    a, b, c = Span(0, 3, "name"), Span(2, 5, "company"), Span(7, 8, "address")
    members = [[Record(0, "x" * 10, spans)] for spans in ([a, c], [b], [b, c])]
    assert vote(members, 1)[0].spans == [a, b, c]  # the union of flat members overlaps
    assert vote(members, 1, flat=True)[0].spans == [b, c]  # b has two votes, a one
    assert vote(members, flat=True)[0].spans == vote(members)[0].spans == [b, c]
    rng = random.Random(1)
    for _ in range(100):  # a strict majority of flat members is flat
        flat = []
        for _ in range(rng.randint(2, 5)):
            starts = [rng.randint(0, 9) for _ in range(4)]
            spans = best_flat_spans({Span(s, s + rng.randint(0, 3), "name"): 1.0 for s in starts})
            flat.append([Record(0, "", spans)])
        assert overlaps(vote(flat)) == 0


# --------------------------------------------------------------------------- workflow


def test_a_workflow_span_experiment_decoding_flat_predicts_no_overlaps(tmp_path: Path) -> None:
    workdir = copy_workflow(tmp_path / "flow")
    experiment = {
        "encoder": "bilstm",
        "bilstm": {"embedding_dim": 8, "hidden": 8},
        "head": "span",
        "span_head_size": 4,
        "span_decoding": "flat",
        "max_len": 16,
        "stride": 4,
        # barely trained: most cells still score above 0, so nested decoding would overlap
        "train": {"epochs": 1, "batch_size": 16, "lr": 1.0e-6, "head_lr": 1.0e-6},
    }
    write_config(workdir, tiny_data_config(experiments={"flat_span": experiment}))
    target = "results/flat_span/predictions/dev.json"
    snakemake(workdir, target, "--cores", "1", snakefile=workdir / "Snakefile")
    predicted = read_records(workdir / target)
    model, tokenizer, meta = load_model(workdir / "results/flat_span/trained/model", "cpu")
    assert meta.head_settings["span_decoding"] == FLAT and overlaps(predicted) == 0
    assert sum(len(r.spans) for r in predicted) > 0
    model.head.set_decoding(NESTED)
    inputs = [Record(r.id, r.text) for r in predicted]
    assert overlaps(predict_records(model, tokenizer, inputs, "char", 16, 4, "BIOS")) > 0
