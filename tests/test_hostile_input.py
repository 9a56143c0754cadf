"""Hostile input: many bad lines, hostile characters, broken prediction files, config typos,
incomplete encoder and model folders, and no network. Each fails loudly, naming the file,
line, key or folder, and says what to do; nothing is shifted or dropped silently."""

from __future__ import annotations

import json
import random
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import tiny_experiment
from workflow_helpers import snakemake, tiny_data_config, write_config

from nerflow.data.cluener import write_records
from nerflow.data.records import Record, Span
from nerflow.data.rejections import ValidationError, check_or_raise
from nerflow.data.spans import remove_overlaps
from nerflow.data.textcheck import TextMismatchError, assert_clean, check_predictions
from nerflow.data.validate import validate_file
from nerflow.text.alignment import (
    char_tags_from_token_labels,
    merge_window_tags,
    restore_spans,
    scored_spans_from_token_spans,
    token_labels_from_spans,
    token_spans_from_spans,
)
from nerflow.text.lost import DROPPED_CHARS, LOST_REASONS
from nerflow.text.tagging import SCHEMES, label_list, tags_to_spans
from nerflow.text.tokenization import tokenize, windows
from nerflow.text.vocab import build_char_vocab, save_char_tokenizer

# --------------------------------------------------------------------------- bad lines

BAD = [
    ("not_json", '{"text": "北京", "label": {'),
    ("schema", '{"label": {}}'),
    ("empty_text", '{"text": "", "label": {}}'),
    ("span_out_of_range", '{"text": "北京", "label": {"address": {"北京": [[0, 5]]}}}'),
    ("span_reversed", '{"text": "北京", "label": {"address": {"北京": [[1, 0]]}}}'),
    ("span_key_mismatch", '{"text": "北京", "label": {"address": {"上海": [[0, 1]]}}}'),
    ("unknown_type", '{"text": "北京", "label": {"planet": {"北京": [[0, 1]]}}}'),
    ("duplicate_key", '{"text": "北京", "text": "上海", "label": {}}'),
]


def test_every_one_of_5000_bad_lines_is_reported_with_its_line(tmp_path: Path) -> None:
    """The unit-sized twin of bench/validate_bad_lines.py (100,000 lines)."""
    path = tmp_path / "bad.json"
    expected: dict[int, str] = {}
    with open(path, "wb") as handle:
        for number in range(1, 5001):
            if number % 1000 == 0:  # a few good lines in between must not hide anything
                handle.write(f'{{"text": "北京{number}", "label": {{}}}}\n'.encode())
                continue
            if number % 97 == 0:
                handle.write(b'{"text": "\xff\xfe", "label": {}}\n')
                expected[number] = "invalid_utf8"
                continue
            kind, line = BAD[number % len(BAD)]
            handle.write((line + "\n").encode())
            expected[number] = kind
    result = validate_file(path, split="train", labels=["address"], overlap_policy="fail")
    assert {rejection.line: rejection.kinds[0] for rejection in result.rejected} == expected
    assert len(result.records) == 5
    with pytest.raises(ValidationError) as caught:
        check_or_raise(result, path, "fail")
    errors = caught.value.errors
    assert len(errors) == len(expected) == 4995
    assert [error.split(": ", 1)[0] for error in errors] == [f"{path}:{n}" for n in expected]
    assert caught.value.summary.startswith(f"{path}: 4995 invalid record(s) of 5000 lines")


# --------------------------------------------------------------------------- characters

HOSTILE = {
    "nbsp": "\u00a0",
    "zero_width_space": "\u200b",
    "tab": "\t",
    "control": "\u0001",
    "delete": "\u007f",
    "astral_emoji": "\U0001f600",
    "emoji_zwj_sequence": "\U0001f468\u200d\U0001f469",
    "replacement_char": "\ufffd",
    "private_use": "\ue000",
    "astral_private_use": "\U000f0000",
    "combining_mark": "e\u0301",
    "lone_combining_mark": "\u0301",
    "full_width": "ＡＢ１２",
    "ideographic_space": "\u3000",
    "byte_order_mark": "\ufeff",
}
LEFT, MIDDLE, RIGHT = "北京", "浙商银行", "叶老桂"


def hostile_record(chars: str) -> tuple[Record, list[Span], list[Span]]:
    """``北京 H 浙商银行 H 叶老桂 H``: spans on the CJK words (always representable), spans
    holding ``H`` inside (representable), and spans starting or ending on ``H`` (lost in
    a mode that gives ``H`` no token of its own, with a reason)."""
    text = LEFT + chars + MIDDLE + chars + RIGHT + chars
    h = len(chars)
    a = len(LEFT)  # first hostile run
    b = a + h + len(MIDDLE)  # second
    c = b + h + len(RIGHT)  # third
    words = [
        Span(0, a - 1, "address"),
        Span(a + h, b - 1, "company"),
        Span(b + h, c - 1, "name"),
    ]
    inside = [Span(a - 1, a + h, "x")]  # 京 H 浙
    edges = [Span(a, a + h - 1, "x"), Span(b, c - 1, "y"), Span(c - 1, c + h - 1, "z")]
    return Record(0, text, words + inside + edges), words + inside, edges


@pytest.fixture(scope="module")
def cased_char_tokenizer(tmp_path_factory: pytest.TempPathFactory):
    """The tokenizer the workflow builds for scratch encoders: one token per character of
    the (here: hostile) training texts, cased."""
    texts = [hostile_record(chars)[0].text for chars in HOSTILE.values()]
    return save_char_tokenizer(build_char_vocab(texts), tmp_path_factory.mktemp("chars"))


def check_restore(record: Record, must_restore: list[Span], tokenizer, mode: str) -> None:
    tok = tokenize(record.text, tokenizer, mode)
    gold = sorted(record.spans)
    for scheme in SCHEMES:
        kept, nested = remove_overlaps(gold)
        labels, lost = token_labels_from_spans(tok, kept, scheme)
        restored = restore_spans(tok, labels, scheme)
        reasons = dict(lost)
        assert set(restored) <= set(kept), "a restored span that is not gold: shifted"
        for span in kept:
            assert (span in restored) != (span in reasons), (span, reasons.get(span))
            assert reasons.get(span, DROPPED_CHARS) in LOST_REASONS
        for span in must_restore:
            assert span in restored or span in nested, (mode, scheme, span, reasons.get(span))
        as_chars = tags_to_spans(char_tags_from_token_labels(tok, labels, scheme), scheme)
        assert as_chars == restored
    token_spans, lost_spans = token_spans_from_spans(tok, gold)  # span heads: nesting kept
    back = sorted(scored_spans_from_token_spans(tok, [(*s, 0.0) for s in token_spans]))
    assert set(back) | {span for span, _ in lost_spans} == set(gold)
    assert not set(back) & {span for span, _ in lost_spans}
    assert set(must_restore) <= set(back)


@pytest.mark.parametrize("mode", ["char", "wordpiece"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_characters_restore_exactly(
    name: str, mode: str, tokenizer, cased_char_tokenizer
) -> None:
    record, must_restore, edges = hostile_record(HOSTILE[name])
    for tok in (tokenizer, cased_char_tokenizer):  # lower-casing WordPiece; cased chars
        check_restore(record, must_restore, tok, mode)
        if mode == "char":  # a lost edge span is lost because H has no token, nothing else
            tokenized = tokenize(record.text, tok, "char")
            _, lost = token_labels_from_spans(tokenized, remove_overlaps(edges)[0], "BIOES")
            assert {reason for _, reason in lost} <= {"dropped_chars"}


def test_which_hostile_characters_get_a_char_token(tokenizer, cased_char_tokenizer) -> None:
    """Documents the behaviour: BERT's normaliser drops whitespace, control, format
    (zero-width, BOM), private-use characters and U+FFFD; an emoji and full-width forms are
    one position each ([UNK] when unknown); the lower-casing tokenizer also strips
    combining marks."""

    def has_token(tok, chars: str) -> bool:
        text = "北" + chars + "京"
        tokenized = tokenize(text, tok, "char")
        first, _ = tokenized.char_tokens()
        return None not in first

    kept = {name for name, chars in HOSTILE.items() if has_token(tokenizer, chars)}
    assert kept == {"astral_emoji", "full_width"}
    kept = {name for name, chars in HOSTILE.items() if has_token(cased_char_tokenizer, chars)}
    assert kept == {"astral_emoji", "full_width", "combining_mark", "lone_combining_mark"}


@pytest.mark.parametrize("mode", ["char", "wordpiece"])
def test_windows_never_tag_part_of_a_span_no_window_can_carry(
    mode: str, tokenizer, cased_char_tokenizer
) -> None:
    """Regression: a span ending on a dropped character (NBSP, U+200B...) just past a
    window edge was "truncated" in that window, so clipping tagged part of it while the
    window seeing it whole dropped it: merged windows then restored a shifted fragment."""
    rng = random.Random(7)
    pieces = [*HOSTILE.values(), " ", LEFT, MIDDLE, RIGHT, "ac米兰", "CS1.6"]
    for tok in (tokenizer, cased_char_tokenizer):
        for _ in range(120):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(4, 12)))
            spans = set()
            for _ in range(6):
                start = rng.randrange(len(text))
                spans.add(Span(start, min(len(text) - 1, start + rng.randint(0, 4)), "x"))
            kept, _ = remove_overlaps(sorted(spans))
            whole = tokenize(text, tok, mode)
            lost_whole = token_labels_from_spans(whole, kept, "BIOES")[1]
            representable = set(kept) - {span for span, _ in lost_whole}
            parts = windows(text, tok, mode, 12, 4)
            tags = []
            for window in parts:
                labels, lost = token_labels_from_spans(window, kept, "BIOES", clip=True)
                for span, reason in lost:  # unrepresentable anyway: never called truncated
                    if span not in representable:
                        assert reason != "truncated", (text, span)
                tags.append(char_tags_from_token_labels(window, labels, "BIOES"))
            merged = set(tags_to_spans(merge_window_tags(len(text), parts, tags), "BIOES"))
            assert merged <= set(kept), (text, merged - set(kept))
            if mode == "char":
                assert merged == representable, text


# --------------------------------------------------------------------------- predictions

SOURCE = [
    Record(0, "浙商银行企业信贷部叶老桂博士", [Span(0, 3, "company"), Span(9, 11, "name")]),
    Record(1, "AC米兰在CS1.6比赛中", [Span(0, 3, "organization")]),
    Record(2, "北京是中国的首都", [Span(0, 1, "address")]),
    Record(3, "没有实体", []),
    Record(4, "上海\u00a0银行", [Span(0, 4, "company")]),
]


def predictions(tmp_path: Path, objects: list[dict], name: str = "pred.json") -> Path:
    path = tmp_path / name
    path.write_text(
        "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects), encoding="utf-8"
    )
    return path


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.json"
    write_records(path, SOURCE)
    return path


def clean() -> list[dict]:
    return [record.to_json() for record in SOURCE]


def caught(source: Path, path: Path) -> tuple[dict, str]:
    report = check_predictions(source, path)
    with pytest.raises(TextMismatchError) as error:
        assert_clean(report)
    return report, str(error.value)


@pytest.mark.parametrize("fields", [("id", "text", "label"), ("text", "label")])
def test_missing_line_in_the_middle_is_named(source: Path, tmp_path: Path, fields) -> None:
    objects = [{k: obj[k] for k in fields} for obj in clean()]
    path = predictions(tmp_path, objects[:1] + objects[2:])  # line 2 (record 1) is gone
    report, message = caught(source, path)
    assert report["mismatched_line_numbers"][0] == 2
    assert report["by_reason"]["missing_line"] == 1
    reason = "id_mismatch" if "id" in fields else "text_mismatch"
    assert report["examples"][0].startswith(f"{path}:2: {reason}: ")
    assert "lines: 4 predicted, 5 in source" in message and f"{path}:2:" in message


def test_extra_line_in_the_middle_is_named(source: Path, tmp_path: Path) -> None:
    objects = clean()
    extra = {"id": 9, "text": "多出来的一行", "label": {}}
    report, message = caught(source, predictions(tmp_path, objects[:3] + [extra] + objects[3:]))
    assert report["mismatched_line_numbers"][0] == 4
    assert "id 9 where source line 4 has id 3 (not in source)" in report["examples"][0]
    assert report["by_reason"]["extra_line"] == 1 and report["mismatched_line_numbers"][-1] == 6


def test_reordered_lines_without_ids_are_named(source: Path, tmp_path: Path) -> None:
    objects = [{"text": obj["text"], "label": obj["label"]} for obj in clean()]
    objects[2], objects[3] = objects[3], objects[2]
    report, _ = caught(source, predictions(tmp_path, objects))
    assert report["mismatched_line_numbers"] == [3, 4]
    assert report["by_reason"]["text_mismatch"] == 2


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda obj: obj.update(text=obj["text"].replace("\u00a0", " ")), "text_mismatch"),
        (lambda obj: obj.update(label={"company": {"上海 银行": [[0, 4]]}}), "span_key_mismatch"),
        (
            lambda obj: obj.update(label={"company": {"上海\u00a0银行": [[1, 5]]}}),
            "span_out_of_range",
        ),
        (lambda obj: obj.update(id=3), "id_mismatch"),
    ],
)
def test_an_edited_line_is_named(source: Path, tmp_path: Path, edit, reason: str) -> None:
    objects = clean()
    edit(objects[4])
    report, message = caught(source, predictions(tmp_path, objects))
    assert report["mismatched_line_numbers"] == [5]
    assert report["by_reason"][reason] == 1
    assert f"pred.json:5: {reason}" in message


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"experiments": {"x": {"encoder": "scratch", "haed": "crf"}}},
            ["experiments.x.haed: unknown key; allowed: encoder, head, tokenization"],
        ),
        ({"train": {"lr": "fast"}}, ["<config>: Additional properties", "'train' was unexpected"]),
        (
            {"experiments": {"x": {"encoder": "scratch", "train": {"lr": "fast"}}}},
            ["experiments.x.train.lr: 'fast' is not of type 'number'"],
        ),
        (
            {"experiments": {"x": {"encoder": "scratch", "max_len": 32}}},
            ["experiments.x.stride: 32 must be smaller than max_len - 2 = 30"],
        ),
    ],
    ids=["misspelled_key", "top_level_unknown_key", "wrong_type", "stride_too_large"],
)
def test_config_mistakes_fail_with_the_key_path(tmp_path: Path, extra: dict, expected) -> None:
    write_config(tmp_path, tiny_data_config(**extra))
    result = snakemake(tmp_path, "-n", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "invalid configuration:" in output and "Traceback" not in output
    for text in expected:
        assert text in output, output[-3000:]


# --------------------------------------------------------------------------- folders


def tiny_transformer_cfg(**overrides) -> dict:
    return tiny_experiment("crf", "BIO", hidden=16, **overrides)


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory: pytest.TempPathFactory, tokenizer) -> Path:
    """A nerflow model folder (tiny scratch transformer + CRF) for types name/company."""
    from nerflow.models.factory import build_model
    from nerflow.models.folder import save_model

    labels = label_list(["company", "name"], "BIO")
    model = build_model(tiny_transformer_cfg(), labels, tokenizer)
    folder = tmp_path_factory.mktemp("trained") / "model"
    return save_model(model, folder, tokenizer, {"tokenization": "char", "max_len": 32})


def test_encoder_folder_without_config_or_weights(
    tmp_path: Path, tokenizer_dir: Path, tokenizer
) -> None:
    from nerflow.models.factory import build_model
    from nerflow.text.vocab import EncoderError

    folder = shutil.copytree(tokenizer_dir, tmp_path / "encoder")  # tokenizer files only
    with pytest.raises(EncoderError) as error:
        build_model(tiny_transformer_cfg(encoder=str(folder)), ["O", "B-x", "I-x"], tokenizer)
    message = str(error.value)
    assert str(folder) in message and "config.json" in message and "model.safetensors" in message
    assert "\n" not in message


def test_encoder_folder_without_tokenizer_files(tmp_path: Path, trained_folder: Path) -> None:
    from nerflow.text.vocab import EncoderError, load_tokenizer

    folder = shutil.copytree(trained_folder, tmp_path / "encoder")
    for name in ("vocab.txt", "tokenizer.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(EncoderError, match="no tokenizer files \\(tokenizer.json or vocab.txt\\)"):
        load_tokenizer(folder)
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    for name in ("tokenizer_config.json", "config.json"):
        (folder / name).unlink()
    with pytest.raises(EncoderError, match="no tokenizer_config.json"):
        load_tokenizer(folder)
    with pytest.raises(EncoderError, match="does not exist"):
        load_tokenizer(tmp_path / "no" / "such" / "encoder")


def test_model_folder_trained_on_other_labels_is_refused_as_encoder(
    trained_folder: Path, tokenizer
) -> None:
    from nerflow.models.factory import build_model

    same = label_list(["company", "name"], "BIO")
    build_model(tiny_transformer_cfg(encoder=str(trained_folder)), same, tokenizer)
    other = label_list(["address", "company", "name"], "BIO")
    with pytest.raises(ValueError) as error:
        build_model(tiny_transformer_cfg(encoder=str(trained_folder)), other, tokenizer)
    message = str(error.value)
    assert str(trained_folder) in message and "trained on other labels" in message
    assert "types it lacks: ['address']" in message
    same_size = label_list(["company", "place"], "BIO")  # same count: would be kept, renamed
    with pytest.raises(ValueError, match="types it lacks: \\['place'\\]"):
        build_model(tiny_transformer_cfg(encoder=str(trained_folder)), same_size, tokenizer)


def test_incomplete_model_folder_says_what_is_missing(tmp_path: Path, trained_folder: Path) -> None:
    from nerflow.models.crf import CRF_FILE
    from nerflow.models.folder import load_model

    for missing, expected in [
        (CRF_FILE, "crf.safetensors"),
        ("model.safetensors", "weights (model.safetensors or pytorch_model.bin)"),
        ("config.json", "config.json"),
    ]:
        folder = shutil.copytree(trained_folder, tmp_path / missing)
        (folder / missing).unlink()
        with pytest.raises(FileNotFoundError) as error:
            load_model(folder, "cpu")
        assert f"{folder}: incomplete model folder, it lacks {expected}" in str(error.value)
    with pytest.raises(FileNotFoundError, match="not a nerflow model folder"):
        load_model(tmp_path / "nothing", "cpu")


def test_cache_of_another_label_set_is_refused_with_the_difference(tokenizer) -> None:
    from nerflow.training.cache import build_cache, check_cache

    records = [Record(0, "叶老桂在北京", [Span(0, 2, "name"), Span(4, 5, "address")])]
    cached = label_list(["address", "name"], "BIO")
    cache = build_cache(records, tokenizer, "char", 32, "BIO", cached, stride=8)
    check_cache(cache, tokenizer, cached, "BIO")
    with pytest.raises(ValueError) as error:
        check_cache(cache, tokenizer, label_list(["company", "name"], "BIO"), "BIO")
    message = str(error.value)
    assert "missing from the cache: B-company, I-company" in message
    assert "in the cache only: B-address, I-address" in message


# --------------------------------------------------------------------------- network

ONE_LINE_HINTS = ("config/offline.yaml", "data:")


def test_download_without_network_fails_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerflow.data.download import DownloadError, fetch_cluener

    outputs = [tmp_path / "cluener" / f"{split}.json" for split in ("train", "dev", "test")]

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    with monkeypatch.context() as patch:
        patch.setattr(urllib.request, "urlopen", no_network)
        with pytest.raises(DownloadError) as error:
            fetch_cluener("https://example.org/cluener_public.zip", outputs, {})
    message = str(error.value)
    assert "\n" not in message and error.value.__cause__ is None
    assert "cannot reach https://example.org/cluener_public.zip" in message
    assert "Temporary failure in name resolution" in message
    assert all(hint in message for hint in ONE_LINE_HINTS)

    with pytest.raises(DownloadError) as error:  # a host that cannot resolve, for real
        fetch_cluener("http://nonexistent.invalid/cluener.zip", outputs, {})
    assert "cannot reach http://nonexistent.invalid/cluener.zip" in str(error.value)
    with pytest.raises(DownloadError, match="no such file"):
        fetch_cluener(str(tmp_path / "missing.zip"), outputs, {})
    assert not any(path.exists() for path in outputs)
    assert [p.name for p in (tmp_path / "cluener").iterdir()] == []  # no scratch left


def test_hub_id_offline_fails_with_one_line(monkeypatch: pytest.MonkeyPatch, tokenizer) -> None:
    import huggingface_hub.constants

    from nerflow.models.factory import build_model
    from nerflow.text.vocab import EncoderError, load_tokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    made_up = "nerflow-tests/no-such-chinese-bert"
    for load in (
        lambda: load_tokenizer(made_up),
        lambda: build_model(tiny_transformer_cfg(encoder=made_up), ["O", "B-x"], tokenizer),
    ):
        with pytest.raises(EncoderError) as error:
            load()
        message = str(error.value)
        assert "\n" not in message and f"'{made_up}'" in message
        assert "Hugging Face hub" in message and "local folder" in message
        assert "config/offline.yaml" in message


def test_user_errors_are_shown_without_a_traceback(capsys: pytest.CaptureFixture) -> None:
    from nerflow.data.download import DownloadError
    from nerflow.stage import _show_user_errors

    error = DownloadError("could not reach http://nonexistent.invalid/: point data: at a copy")
    _show_user_errors(type(error), error, None)
    assert capsys.readouterr().err == f"ERROR: {error}\n"
    try:
        raise KeyError("a bug")
    except KeyError as bug:
        _show_user_errors(KeyError, bug, bug.__traceback__)
    shown = capsys.readouterr().err
    assert "Traceback" in shown and "KeyError: 'a bug'" in shown
