"""Exported model folders through ``transformers.pipeline("token-classification")``.

A tiny scratch BERT with a softmax head is fitted (seconds, fixed seed) to the tiny
CLUENER fixture in BIOS and BIOES, so it predicts ``S-`` and ``E-`` tags; the folder
written by :func:`nerflow.models.folder.save_model` then goes through the pipeline with
``aggregation_strategy="simple"`` and its entities are compared with
:func:`nerflow.inference.predict.predict_records` on the loaded model.

Every difference is classified by its cause, checked in this order (:data:`KINDS`):

- ``beyond_positions``: the text has more tokens than the encoder has positions; the
  pipeline does not window, so the model call fails (we slide windows);
- ``wordpiece_tokenisation``: the pipeline tokenises the raw text with WordPiece, so a
  Latin/digit run (``Tom``, ``CS1.6``, ``ＡＢ``) is one word, pieces or one ``[UNK]``,
  where ``char`` mode gives one token per character: other inputs, other outputs;
- ``sliding_windows``: same tokens, but more than ``max_len``: we predict in overlapping
  windows of ``max_len`` tokens, the pipeline in one pass over the whole text;
- ``invalid_sequence``: same tokens, one window, and the decoded tag sequence is invalid
  for the scheme with an entity closed by ``S-X``/``E-X`` and continued at once by
  ``I-X``/``E-X``: our lenient decoder starts a new entity there, the pipeline (which
  sees ``B-X``/``I-X`` names) continues the open one.

Not kinds (observed to give no difference): whitespace (``char`` mode and the pipeline
both drop it, and entity spans run from their first to their last token in both), and
an orphan ``I-X`` after ``O`` or another type (both start an entity there).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_experiment

from nerflow.data.cluener import read_records
from nerflow.data.records import Record, Span
from nerflow.inference.predict import decode_windows, predict_records
from nerflow.models.factory import build_model
from nerflow.models.folder import load_model, save_model
from nerflow.models.head import pipeline_label
from nerflow.tensors import pad, padding_mask
from nerflow.text.alignment import restore_spans, token_labels_from_spans
from nerflow.text.tagging import is_valid_sequence, label_list, parse_tag, tags_to_spans
from nerflow.text.tokenization import tokenize
from nerflow.text.vocab import build_char_vocab, save_char_tokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "tiny"
MAX_LEN = 32
STRIDE = 8
KINDS = ("beyond_positions", "wordpiece_tokenisation", "sliding_windows", "invalid_sequence")
CJK = re.compile(r"[\u4e00-\u9fff]")
SPACES = (" ", "\u3000", "\t", "\u00a0")


def is_chinese_only(text: str) -> bool:
    """Only CJK ideographs and non-ASCII punctuation (``，。《》：？``...)."""
    return bool(text) and all(
        CJK.match(char) or (not char.isascii() and not char.isalnum() and not char.isspace())
        for char in text
    )


def fixture_records(split: str) -> list[Record]:
    return read_records(FIXTURES / f"{split}.json")


@dataclass
class Exported:
    scheme: str
    folder: Path
    model: Any
    tokenizer: Any
    pipe: Any
    train: list[Record]


def fit(scheme: str, tmp: Path) -> Exported:
    """Fit a tiny softmax tagger to the fixture's train split and export it."""
    from transformers import pipeline

    train = fixture_records("train")
    tokenizer = save_char_tokenizer(build_char_vocab(r.text for r in train), tmp / "tokenizer")
    labels = label_list(sorted({s.label for r in train for s in r.spans}), scheme)
    cfg = tiny_experiment("softmax", scheme, hidden=64, max_len=MAX_LEN)
    torch.manual_seed(0)
    model = build_model(cfg, labels, tokenizer)
    label_ids = {label: i for i, label in enumerate(labels)}
    ids, targets = [], []
    for record in train:
        tok = tokenize(record.text, tokenizer, "char", MAX_LEN)
        assert not tok.truncated
        token_labels, lost = token_labels_from_spans(tok, record.spans, scheme)
        assert not lost
        ids.append(tok.input_ids)
        targets.append([-100 if tag is None else label_ids[tag] for tag in token_labels])
    input_ids, attention_mask = pad(ids, tokenizer.pad_token_id), padding_mask(ids)
    gold = torch.full(input_ids.shape, -100)
    for row, target in enumerate(targets):
        gold[row, : len(target)] = torch.tensor(target)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        loss, _ = model(input_ids, attention_mask, gold)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    folder = save_model(
        model.eval(),
        tmp / "model",
        tokenizer,
        {"tokenization": "char", "max_len": MAX_LEN, "stride": STRIDE},
    )
    loaded, loaded_tokenizer, _ = load_model(folder, "cpu")
    pipe = pipeline(
        "token-classification", model=str(folder), aggregation_strategy="simple", device="cpu"
    )
    return Exported(scheme, folder, loaded, loaded_tokenizer, pipe, train)


@pytest.fixture(scope="module", params=["BIOS", "BIOES"])
def exported(request, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return fit(request.param, tmp_path_factory.mktemp(f"pipeline_{request.param}"))


def probe_texts(train: list[Record]) -> list[str]:
    """Fixture texts (Latin/digit runs included), whitespace variants, random Chinese
    strings and entity mash-ups (which provoke invalid tag sequences), texts longer than
    ``max_len`` and one longer than the encoder's 512 positions."""
    rng = random.Random(0)
    texts = [r.text for split in ("train", "dev", "test") for r in fixture_records(split)]
    cjk = sorted({char for text in texts for char in text if CJK.match(char)})
    entities = sorted(
        {s.surface(r.text) for r in train for s in r.spans if is_chinese_only(s.surface(r.text))}
    )
    spaced = [
        text[: len(text) // 2] + rng.choice(SPACES) + text[len(text) // 2 :] for text in texts[:30]
    ]
    spaced += [rng.choice(SPACES).join(text) for text in texts[30:40]]
    random_texts = ["".join(rng.choices(cjk, k=rng.randint(4, 28))) for _ in range(120)]
    mashups = ["".join(rng.choices(entities, k=rng.randint(2, 6))) for _ in range(80)]
    longer = ["".join(rng.sample(texts, 3)) for _ in range(15)]
    longer += ["".join(rng.choices(cjk, k=rng.randint(40, 120))) for _ in range(15)]
    return texts + spaced + random_texts + mashups + longer + ["".join(texts)]


def entity_set(spans) -> set[tuple[int, int, str]]:
    return {(s.start, s.end, s.label) for s in spans}


def pipeline_entities(pipe, text: str) -> set[tuple[int, int, str]] | None:
    """``(start, end inclusive, type)`` of the pipeline's entities; None if it fails."""
    try:
        found = pipe(text)
    except (RuntimeError, IndexError):
        return None
    return {(e["start"], e["end"] - 1, e["entity_group"]) for e in found}


def closed_then_continued(tags: list[str]) -> bool:
    """An ``S-X``/``E-X`` directly followed by ``I-X``/``E-X``: the one pattern where the
    pipeline names (``B-X``/``I-X`` then ``I-X``) and our decoder group differently."""
    for a, b in itertools.pairwise(tags):
        (prefix_a, type_a), (prefix_b, type_b) = parse_tag(a), parse_tag(b)
        if prefix_a in ("S", "E") and prefix_b in ("I", "E") and type_a == type_b:
            return True
    return False


@dataclass
class Difference:
    text: str
    kind: str
    ours: set
    theirs: set | None


def compare(exp: Exported, texts: list[str]) -> tuple[list[Difference], dict[str, Counter]]:
    """Compare pipeline and ``predict_records`` on ``texts``; classify every difference.

    Checks the mechanism of each kind on the way; returns the differences and, per kind,
    the number of texts and of differing entities.
    """
    model, tokenizer, scheme = exp.model, exp.tokenizer, exp.scheme
    positions = exp.pipe.model.config.max_position_embeddings
    records = [Record(i, text) for i, text in enumerate(texts)]
    # batch_size=1: unpadded inputs like the pipeline's, so logits match to the bit
    ours = predict_records(model, tokenizer, records, "char", MAX_LEN, STRIDE, scheme, batch_size=1)
    differences: list[Difference] = []
    counts = {"texts": Counter(), "entities": Counter()}
    for text, predicted in zip(texts, ours, strict=True):
        mine, theirs = entity_set(predicted.spans), pipeline_entities(exp.pipe, text)
        char_tok = tokenize(text, tokenizer, "char")
        same_tokens = tokenizer(text)["input_ids"] == char_tok.input_ids
        if theirs is None:
            assert len(tokenizer(text)["input_ids"]) > positions, text
            kind = "beyond_positions"
        elif not same_tokens:
            assert not is_chinese_only(text.translate({ord(s): None for s in SPACES}))
            kind = "wordpiece_tokenisation"
        elif len(char_tok) > MAX_LEN:
            kind = "sliding_windows"
        else:
            # one window, the pipeline's exact inputs: it must group the renamed tags as BIO
            (labels,) = decode_windows(model, [char_tok], 0, 8, torch.device("cpu"))
            tags = [tag for tag in labels if tag is not None]
            renamed = [None if tag is None else pipeline_label(tag) for tag in labels]
            assert theirs == entity_set(restore_spans(char_tok, renamed, "BIO")), text
            assert mine == entity_set(restore_spans(char_tok, labels, scheme)), text
            if mine == theirs:
                continue
            assert not is_valid_sequence(tags, scheme) and closed_then_continued(tags), text
            kind = "invalid_sequence"
        if mine == theirs:
            continue
        counts["texts"][kind] += 1
        counts["entities"][kind] += len(mine ^ (theirs or set()))
        differences.append(Difference(text, kind, mine, theirs))
    return differences, counts


# --------------------------------------------------------------------------- tests


def test_fitted_model_predicts_s_and_e_tags(exported: Exported) -> None:
    """The fixture model reproduces its training data, single entities as ``S-`` and,
    in BIOES, ends as ``E-``; the exported config names them for the pipeline."""
    records = [Record(r.id, r.text) for r in exported.train]
    predicted = predict_records(
        exported.model, exported.tokenizer, records, "char", MAX_LEN, STRIDE, exported.scheme
    )
    assert [p.spans for p in predicted] == [r.spans for r in exported.train]
    toks = [tokenize(r.text, exported.tokenizer, "char", MAX_LEN) for r in exported.train]
    decoded = decode_windows(exported.model, toks, 0, 64, torch.device("cpu"))
    prefixes = {parse_tag(tag)[0] for labels in decoded for tag in labels if tag is not None}
    assert prefixes == set(exported.scheme)
    id2label = exported.pipe.model.config.id2label
    assert {name.split("-", 1)[0] for name in id2label.values()} == {"O", "B", "I"}


def test_pipeline_agrees_with_predict_records(exported: Exported) -> None:
    """Chinese-only texts within max_len with a valid decoded sequence agree exactly;
    every other difference has a known kind (checked mechanism, see the docstring)."""
    differences, counts = compare(exported, probe_texts(exported.train))
    print(f"\n{exported.scheme} differences (texts, entities):", dict(counts["texts"]))
    print(dict(counts["entities"]))
    assert {d.kind for d in differences} <= set(KINDS)
    assert counts["texts"]["beyond_positions"] == 1  # the one text past 512 positions
    for difference in differences:
        if is_chinese_only(difference.text) and len(difference.text) + 2 <= MAX_LEN:
            assert difference.kind == "invalid_sequence", difference


def test_pipeline_grouping_equals_our_decoder_on_every_valid_sequence(exported: Exported) -> None:
    """All tag sequences of up to 4 positions over two types: with the exported names the
    pipeline's grouping gives our spans on every valid sequence, and on an invalid one it
    differs exactly when an entity closed by S/E is continued at once."""
    tags = label_list(["X", "Y-1"], exported.scheme)
    for n in range(1, 5):
        for sequence in itertools.product(tags, repeat=n):
            ours = set(tags_to_spans(sequence, exported.scheme))
            theirs = group_like_pipeline(exported.pipe, [pipeline_label(t) for t in sequence])
            if is_valid_sequence(sequence, exported.scheme):
                assert theirs == ours, sequence
            else:
                assert (theirs != ours) == closed_then_continued(list(sequence)), sequence


def group_like_pipeline(pipe, names: list[str]) -> set[Span]:
    """The pipeline's own ``simple`` grouping of per-token ``names`` (one char a token)."""
    import numpy as np

    entities = [
        {"entity": name, "score": np.float32(1.0), "word": "x", "start": i, "end": i + 1}
        for i, name in enumerate(names)
    ]
    groups = pipe.group_entities(entities)
    return {
        Span(g["start"], g["end"] - 1, g["entity_group"])
        for g in groups
        if g["entity_group"] != "O"
    }


def test_old_raw_naming_breaks_the_pipeline_grouping(exported: Exported, tmp_path: Path) -> None:
    """With the raw tag names (folders saved before the fix) in ``id2label`` the pipeline
    reads ``S-X``/``E-X`` as types of their own: BIOES entities are split before their
    ``E``, adjacent BIOS singles are merged. The new naming fixes both."""
    from transformers import pipeline

    old = tmp_path / "old"
    shutil.copytree(exported.folder, old)
    config = json.loads((old / "config.json").read_text(encoding="utf-8"))
    config["id2label"] = {str(i): label for i, label in enumerate(exported.model.labels)}
    (old / "config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    load_model(old, "cpu")  # still a valid nerflow folder
    old_pipe = pipeline(
        "token-classification", model=str(old), aggregation_strategy="simple", device="cpu"
    )
    sequence = ["B-X", "I-X", "E-X", "O"] if exported.scheme == "BIOES" else ["S-X", "S-X", "O"]
    expected = set(tags_to_spans(sequence, exported.scheme))
    assert group_like_pipeline(old_pipe, sequence) != expected
    assert group_like_pipeline(exported.pipe, [pipeline_label(t) for t in sequence]) == expected

    texts = [r.text for r in exported.train if is_chinese_only(r.text)]
    new_diff, _ = compare(exported, texts)
    assert not new_diff  # the fitted model's tags are valid on its own training texts
    if exported.scheme == "BIOES":  # every multi-character entity ends in E-X
        broken = [
            t
            for t in texts
            if pipeline_entities(old_pipe, t) != pipeline_entities(exported.pipe, t)
        ]
        assert len(broken) >= len(texts) // 2
