"""Tokenisation with offsets, span <-> token-label alignment and restore on the original text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nerflow.data.records import Span
from nerflow.text.alignment import (
    char_tags_from_token_labels,
    merge_window_tags,
    restore_spans,
    token_labels_from_spans,
)
from nerflow.text.tagging import SCHEMES, label_list, spans_to_tags, tags_to_spans
from nerflow.text.tokenization import TOKENIZATIONS, TokenizedText, n_tokens, tokenize, windows


def roundtrip(tok: TokenizedText, spans: list[Span], scheme: str) -> tuple[list[Span], list]:
    """Gold spans -> token labels -> restored spans, plus the lost spans with reasons."""
    labels, lost = token_labels_from_spans(tok, spans, scheme)
    restored = restore_spans(tok, labels, scheme)
    assert restored == tags_to_spans(char_tags_from_token_labels(tok, labels, scheme), scheme)
    return restored, lost


def assert_exact(text: str, spans: list[Span], tokenizer, mode: str) -> None:
    tok = tokenize(text, tokenizer, mode)
    for scheme in SCHEMES:
        restored, lost = roundtrip(tok, spans, scheme)
        assert lost == []
        assert restored == sorted(spans)
        assert [s.surface(text) for s in restored] == [s.surface(text) for s in sorted(spans)]


def test_char_mode_tokens_offsets_and_unk(tokenizer) -> None:
    tok = tokenize("😀北京", tokenizer, "char")
    assert tok.offsets == [(0, 0), (0, 1), (1, 2), (2, 3), (0, 0)]
    assert tok.labelled == [False, True, True, True, False]
    assert tok.special == [True, False, False, False, True]
    assert tok.input_ids[1] == tokenizer.unk_token_id  # astral emoji: one char, one [UNK]
    assert tok.input_ids[0] == tokenizer.cls_token_id
    assert tok.input_ids[-1] == tokenizer.sep_token_id
    assert tok.n_chars == 3 and not tok.truncated
    assert_exact("😀北京", [Span(1, 2, "loc")], tokenizer, "char")
    assert_exact("😀北京", [Span(0, 0, "emoji"), Span(1, 2, "loc")], tokenizer, "char")
    assert_exact("😀北京", [Span(0, 2, "x")], tokenizer, "wordpiece")


def test_unknown_characters_keep_their_position(tokenizer) -> None:
    text = "叶老桂龘博士"  # 龘 is not in the vocabulary
    tok = tokenize(text, tokenizer, "char")
    assert tok.input_ids[4] == tokenizer.unk_token_id
    assert tok.offsets[1:-1] == [(i, i + 1) for i in range(6)]
    assert_exact(text, [Span(0, 3, "name"), Span(4, 5, "position")], tokenizer, "char")
    assert_exact(text, [Span(3, 3, "x")], tokenizer, "wordpiece")  # CJK: own word


def test_full_width_characters_do_not_shift_offsets(tokenizer) -> None:
    text = "北１２３ＡＢ京"  # lower-casing maps ＡＢ to ａｂ (unknown): offsets stay put
    tok = tokenize(text, tokenizer, "char")
    assert tok.offsets[1:-1] == [(i, i + 1) for i in range(7)]
    assert tok.input_ids[2:5] == tokenizer.convert_tokens_to_ids(list("１２３"))
    assert tok.input_ids[5:7] == [tokenizer.unk_token_id] * 2
    assert_exact(text, [Span(1, 3, "num"), Span(4, 5, "abc")], tokenizer, "char")
    wp = tokenize(text, tokenizer, "wordpiece")
    assert wp.offsets == [(0, 0), (0, 1), (1, 6), (6, 7), (0, 0)]  # one [UNK] for the word
    assert wp.input_ids[2] == tokenizer.unk_token_id
    labels, lost = token_labels_from_spans(wp, [Span(1, 3, "num"), Span(6, 6, "x")], "BIO")
    assert lost == [(Span(1, 3, "num"), "inside_word_piece")]
    assert labels == [None, "O", "O", "B-x", None]
    assert_exact(text, [Span(1, 5, "code")], tokenizer, "wordpiece")


@pytest.mark.parametrize(
    ("text", "span", "wordpiece_exact"),
    [
        ("ac米兰", Span(0, 3, "org"), True),
        ("ac米兰", Span(1, 3, "org"), False),  # boundary inside the piece "ac"
        ("ac米兰", Span(2, 3, "loc"), True),
        ("在CS1.6中", Span(1, 5, "game"), True),
        ("在CS1.6中", Span(1, 2, "game"), True),  # "cs" is one piece
        ("在CS1.6中", Span(2, 5, "game"), False),
        ("在CS1.6中", Span(1, 1, "game"), False),
        ("￥5999", Span(0, 4, "money"), True),
        ("￥5999", Span(1, 4, "money"), True),  # ￥ ##59 ##99
        ("￥5999", Span(1, 3, "money"), False),
        ("￥5999", Span(2, 4, "money"), False),
    ],
)
def test_latin_and_digit_runs(tokenizer, text: str, span: Span, wordpiece_exact: bool) -> None:
    assert_exact(text, [span], tokenizer, "char")
    tok = tokenize(text, tokenizer, "wordpiece")
    for scheme in SCHEMES:
        restored, lost = roundtrip(tok, [span], scheme)
        if wordpiece_exact:
            assert (restored, lost) == ([span], [])
        else:
            assert (restored, lost) == ([], [(span, "inside_word_piece")])


def test_wordpiece_pieces_and_one_position_per_token(tokenizer) -> None:
    tok = tokenize("￥5999", tokenizer, "wordpiece")
    pieces = tokenizer.convert_ids_to_tokens(tok.input_ids)
    assert pieces == ["[CLS]", "￥", "##59", "##99", "[SEP]"]
    assert tok.offsets == [(0, 0), (0, 1), (1, 3), (3, 5), (0, 0)]
    labels, lost = token_labels_from_spans(tok, [Span(0, 4, "money")], "BIOES")
    assert labels == [None, "B-money", "I-money", "E-money", None] and lost == []
    labels, _ = token_labels_from_spans(tok, [Span(1, 2, "money")], "BIOES")
    assert labels == [None, "O", "S-money", "O", None]


@pytest.mark.parametrize(
    ("scheme", "label", "expected"),
    [
        ("BIO", "B-m", ["O", "B-m", "I-m", "O", "O"]),
        ("BIOS", "S-m", ["O", "B-m", "I-m", "O", "O"]),
        ("BIOS", "B-m", ["O", "B-m", "I-m", "O", "O"]),  # lenient: lone B still an entity
        ("BIOES", "S-m", ["O", "B-m", "E-m", "O", "O"]),
        ("BIOES", "E-m", ["O", "B-m", "E-m", "O", "O"]),
    ],
)
def test_projection_of_a_multi_char_token(tokenizer, scheme, label, expected) -> None:
    tok = tokenize("￥5999", tokenizer, "wordpiece")
    labels = [None, "O", label, "O", None]
    assert char_tags_from_token_labels(tok, labels, scheme) == expected
    assert restore_spans(tok, labels, scheme) == [Span(1, 2, "m")]


def test_whitespace_never_starts_or_ends_a_span(tokenizer) -> None:
    text = " 北京 上海\t浙商银行\n"
    spans = [Span(1, 2, "loc"), Span(4, 5, "loc"), Span(7, 10, "company")]
    for mode in TOKENIZATIONS:
        tok = tokenize(text, tokenizer, mode)
        assert [tok.offsets[i][0] for i in tok.label_positions()] == [1, 2, 4, 5, 7, 8, 9, 10]
        assert_exact(text, spans, tokenizer, mode)
        labels, _ = token_labels_from_spans(tok, spans, "BIO")
        tags = char_tags_from_token_labels(tok, labels, "BIO")
        assert [tags[i] for i in (0, 3, 6, 11)] == ["O"] * 4
        for bad in (Span(0, 2, "loc"), Span(1, 3, "loc"), Span(3, 3, "x"), Span(6, 10, "c")):
            assert roundtrip(tok, [bad], "BIO") == ([], [(bad, "dropped_chars")])


def test_whitespace_inside_an_entity(tokenizer) -> None:
    text = "在北 京 了"
    for mode in TOKENIZATIONS:
        tok = tokenize(text, tokenizer, mode)
        assert_exact(text, [Span(1, 3, "loc")], tokenizer, mode)
        labels, _ = token_labels_from_spans(tok, [Span(1, 3, "loc")], "BIOES")
        assert labels == [None, "O", "B-loc", "E-loc", "O", None]
        tags = char_tags_from_token_labels(tok, labels, "BIOES")
        assert tags == ["O", "B-loc", "I-loc", "E-loc", "O", "O"]
        assert char_tags_from_token_labels(tok, labels, "BIO")[2] == "I-loc"


def test_dropped_control_and_zero_width_characters(tokenizer) -> None:
    text = "\ufeff北\u200b京\x00上海"
    tok = tokenize(text, tokenizer, "char")
    assert [tok.offsets[i] for i in tok.label_positions()] == [(1, 2), (3, 4), (5, 6), (6, 7)]
    assert_exact(text, [Span(1, 3, "loc"), Span(5, 6, "loc")], tokenizer, "char")
    assert_exact(text, [Span(1, 3, "loc"), Span(5, 6, "loc")], tokenizer, "wordpiece")
    for bad in (Span(0, 1, "x"), Span(1, 2, "x"), Span(4, 6, "x")):
        assert roundtrip(tok, [bad], "BIOS")[1] == [(bad, "dropped_chars")]


def test_nested_spans_are_reported(tokenizer) -> None:
    text = "《浙商银行企业信贷部》"
    outer, inner = Span(0, 10, "book"), Span(1, 4, "company")
    tok = tokenize(text, tokenizer, "char")
    assert roundtrip(tok, [inner, outer], "BIO") == ([outer], [(inner, "nested")])


def test_out_of_range_spans_raise(tokenizer) -> None:
    tok = tokenize("北京", tokenizer, "char")
    with pytest.raises(ValueError, match="out of range"):
        token_labels_from_spans(tok, [Span(1, 2, "loc")], "BIO")
    with pytest.raises(ValueError, match="2 labels"):
        restore_spans(tok, ["O", "O"], "BIO")


def test_truncation(tokenizer) -> None:
    text = "北京上海浙商银行"
    assert n_tokens(text, tokenizer, "char") == 10
    assert n_tokens(text, tokenizer, "char", add_special_tokens=False) == 8
    assert n_tokens("ac米兰", tokenizer, "wordpiece") == 5
    tok = tokenize(text, tokenizer, "char", max_len=6)
    assert len(tok) == 6 and tok.truncated and tok.char_end == 4
    assert tok.input_ids[-1] == tokenizer.sep_token_id
    spans = [Span(0, 1, "loc"), Span(2, 3, "loc"), Span(4, 7, "company")]
    restored, lost = roundtrip(tok, spans, "BIOES")
    assert restored == spans[:2] and lost == [(spans[2], "truncated")]
    assert roundtrip(tok, [Span(3, 4, "x")], "BIO")[1] == [(Span(3, 4, "x"), "truncated")]
    full = tokenize(text, tokenizer, "char", max_len=10)
    assert not full.truncated and len(full) == 10
    bare = tokenize(text, tokenizer, "char", max_len=3, add_special_tokens=False)
    assert bare.truncated and bare.offsets == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(ValueError, match="no room"):
        tokenize(text, tokenizer, "char", max_len=2)


def test_empty_and_blank_texts(tokenizer) -> None:
    for text in ("", "  \t"):
        for mode in TOKENIZATIONS:
            tok = tokenize(text, tokenizer, mode, max_len=8)
            assert tok.label_positions() == [] and len(tok) == 2
            assert char_tags_from_token_labels(tok, [None, None], "BIO") == ["O"] * len(text)
            assert len(windows(text, tokenizer, mode, 8, 2)) == 1


@pytest.fixture(scope="module")
def hangul_tokenizer(tmp_path_factory: pytest.TempPathFactory):
    """NFD splits a Hangul syllable into jamo: one character, several sub-tokens."""
    from transformers import BertTokenizerFast

    path = Path(tmp_path_factory.mktemp("hangul")) / "vocab.txt"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "北", "京", "ᄒ", "##ᅡ", "##ᆫ"]
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab=str(path), do_lower_case=True)


def test_only_first_sub_token_of_a_char_is_labelled(hangul_tokenizer) -> None:
    text = "北한京"
    tok = tokenize(text, hangul_tokenizer, "char")
    assert tok.offsets == [(0, 0), (0, 1), (1, 2), (1, 2), (1, 2), (2, 3), (0, 0)]
    assert tok.labelled == [False, True, True, False, False, True, False]
    labels, _ = token_labels_from_spans(tok, [Span(1, 2, "x")], "BIO")
    assert labels == [None, "O", "B-x", None, None, "I-x", None]
    assert_exact(text, [Span(1, 1, "x")], hangul_tokenizer, "char")
    assert_exact(text, [Span(0, 1, "x"), Span(2, 2, "y")], hangul_tokenizer, "wordpiece")
    wp = tokenize(text, hangul_tokenizer, "wordpiece")  # every piece is a position
    clash = [None, "O", "S-x", "O", "S-y", "O", None]  # two entities on one character
    assert restore_spans(wp, clash, "BIOS") == [Span(1, 1, "x")]
    # a window may start on a later sub-token of a character: that one is labelled then
    parts = windows(text, hangul_tokenizer, "char", max_len=4, stride=1)
    assert [w.labelled for w in parts][1] == [False, True, False, False]


ALPHABET = list("北京上海浙商银行的了在１２３") + ["龘", "😀", " ", "\u200b", "a", "c", "5", "9"]


def _random_case(rng: random.Random, length: int, max_span: int) -> tuple[str, list[Span]]:
    """A random text and non-overlapping spans whose ends sit on tokenised characters."""
    text = "".join(rng.choice(ALPHABET) for _ in range(length))
    ok = [i for i, c in enumerate(text) if c not in " \u200b"]
    spans: list[Span] = []
    position = 0
    while position < length:
        starts = [i for i in ok if position <= i]
        if not starts:
            break
        start = starts[rng.randrange(min(3, len(starts)))]
        ends = [i for i in ok if start <= i < start + max_span]
        end = rng.choice(ends)
        spans.append(Span(start, end, rng.choice("xy")))
        position = end + 1 + rng.randrange(3)
    return text, spans


def test_random_char_mode_roundtrips_are_exact(tokenizer) -> None:
    rng = random.Random(7)
    for _ in range(200):
        text, spans = _random_case(rng, rng.randrange(1, 25), max_span=6)
        assert_exact(text, spans, tokenizer, "char")


def test_arbitrary_predicted_labels_restore_to_valid_spans(tokenizer) -> None:
    rng = random.Random(11)
    for _ in range(100):
        text, _ = _random_case(rng, rng.randrange(1, 20), max_span=3)
        for mode in TOKENIZATIONS:
            tok = tokenize(text, tokenizer, mode)
            for scheme in SCHEMES:
                choices = [*label_list(["x", "y"], "BIOES"), None]
                labels = [rng.choice(choices) for _ in tok.input_ids]
                spans = restore_spans(tok, labels, scheme)
                starts = {tok.offsets[i][0] for i in tok.label_positions()}
                ends = {tok.offsets[i][1] - 1 for i in tok.label_positions()}
                assert all(s.start in starts and s.end in ends for s in spans)
                tags = char_tags_from_token_labels(tok, labels, scheme)
                assert tags == spans_to_tags(len(text), spans, scheme)


def test_windows_cover_every_token_with_stride_overlap(tokenizer) -> None:
    text = "北京 上海浙商银行的１２３ac米兰" * 4
    full = tokenize(text, tokenizer, "wordpiece")
    content = [full.offsets[i] for i in full.label_positions()]
    parts = windows(text, tokenizer, "wordpiece", max_len=12, stride=4)
    assert len(parts) > 1
    seen: list[tuple[int, int]] = []
    for previous, part in zip([None, *parts], parts, strict=False):
        assert len(part) <= 12 and part.truncated
        assert part.input_ids[0] == tokenizer.cls_token_id
        assert part.input_ids[-1] == tokenizer.sep_token_id
        offsets = [part.offsets[i] for i in part.label_positions()]
        if previous is not None:
            shared = set(offsets) & {previous.offsets[i] for i in previous.label_positions()}
            assert len(shared) >= 4
            assert len(shared) == 4 or part is parts[-1]
        seen.extend(offsets)
    assert sorted(set(seen)) == content
    short = windows("北京", tokenizer, "char", max_len=12, stride=4)
    assert short == [tokenize("北京", tokenizer, "char")]
    with pytest.raises(ValueError, match="stride"):
        windows(text, tokenizer, "char", max_len=12, stride=10)


def test_merge_prefers_the_most_central_window(tokenizer) -> None:
    text = "北京上海浙商银行"
    parts = windows(text, tokenizer, "char", max_len=7, stride=2)
    assert [(w.char_start, w.char_end) for w in parts] == [(0, 5), (3, 8)]
    merged = merge_window_tags(8, parts, [["S-a"] * 8, ["S-b"] * 8])
    assert merged == ["S-a"] * 4 + ["S-b"] * 4
    assert merge_window_tags(10, [], []) == ["O"] * 10


def _merged_windows(text, spans, tokenizer, mode, max_len, stride, scheme, clip) -> list[str]:
    parts = windows(text, tokenizer, mode, max_len, stride)
    window_tags = []
    for part in parts:
        labels, _ = token_labels_from_spans(part, spans, scheme, clip=clip)
        window_tags.append(char_tags_from_token_labels(part, labels, scheme))
    return merge_window_tags(len(text), parts, window_tags)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_windows_restore_a_long_text_exactly(tokenizer, scheme: str) -> None:
    rng = random.Random(3)
    max_len, stride = 16, 8
    text, spans = _random_case(rng, 5 * max_len + 7, max_span=4)
    assert n_tokens(text, tokenizer, "char") > 3 * max_len
    tok = tokenize(text, tokenizer, "char", max_len=max_len)
    assert tok.truncated and roundtrip(tok, spans, scheme)[1]  # one window loses spans
    # without clipping: spans of up to stride // 2 tokens are safe
    merged = _merged_windows(text, spans, tokenizer, "char", max_len, stride, scheme, False)
    assert tags_to_spans(merged, scheme) == spans
    assert merged == spans_to_tags(len(text), spans, scheme)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("max_len", "stride"), [(16, 2), (12, 6), (5, 2)])
def test_clipped_windows_restore_long_entities_exactly(tokenizer, scheme, max_len, stride) -> None:
    rng = random.Random(max_len * 10 + stride)
    for _ in range(10):
        text, spans = _random_case(rng, 5 * max_len, max_span=3 * max_len)
        merged = _merged_windows(text, spans, tokenizer, "char", max_len, stride, scheme, True)
        assert tags_to_spans(merged, scheme) == spans


def test_clip_tags_the_visible_part_of_a_cut_span(tokenizer) -> None:
    text = "北京上海浙商银行"
    tok = tokenize(text, tokenizer, "char", max_len=6)
    spans = [Span(2, 5, "x"), Span(6, 7, "y")]
    labels, lost = token_labels_from_spans(tok, spans, "BIOES", clip=True)
    assert labels == [None, "O", "O", "B-x", "E-x", None]
    assert lost == [(Span(2, 5, "x"), "truncated"), (Span(6, 7, "y"), "truncated")]
    assert restore_spans(tok, labels, "BIOES") == [Span(2, 3, "x")]
    assert token_labels_from_spans(tok, spans, "BIOES")[0] == [None, "O", "O", "O", "O", None]
    right = windows(text, tokenizer, "char", max_len=6, stride=2)[-1]
    assert (right.char_start, right.char_end, right.truncated) == (4, 8, True)
    labels, lost = token_labels_from_spans(right, spans, "BIO", clip=True)
    assert labels == [None, "B-x", "I-x", "B-y", "I-y", None]
    assert lost == [(Span(2, 5, "x"), "truncated")]


EDGE_TEXTS = ["", " ", "a b\tc\n", "\x00\x07控制字符", "Ａ１😀é̃ﬁ", "北京 上海"]
EDGE_TEXTS += ["ＡＢＣ公司，２０２０年"]


@pytest.mark.parametrize("add_special_tokens", [True, False])
def test_char_mode_encodes_each_character_once_as_one_call_on_the_texts_would(
    tokenizer, tmp_path: Path, add_special_tokens: bool
) -> None:
    """Char mode puts texts together from per-character pieces; the ids, offsets and
    specials equal those of one pre-split tokenizer call on the texts, for a WordPiece
    vocabulary (lower-cased, as bert-base-chinese) and a saved character vocabulary."""
    import json

    from nerflow.text.tokenization import _encode_many, _split_specials
    from nerflow.text.vocab import build_char_vocab, save_char_tokenizer

    fixture = Path(__file__).parent / "fixtures" / "tiny" / "train.json"
    texts = [json.loads(line)["text"] for line in fixture.read_text(encoding="utf-8").splitlines()]
    texts += EDGE_TEXTS
    char_tokenizer = save_char_tokenizer(build_char_vocab(texts[:10]), tmp_path / "chars")
    for tok in (tokenizer, char_tokenizer):
        enc = tok(
            [list(text) for text in texts],
            is_split_into_words=True,
            add_special_tokens=add_special_tokens,
        )
        expected = []
        for index, text in enumerate(texts):
            words = enc.word_ids(index)
            offsets = [(0, 0) if w is None else (w, w + 1) for w in words]
            ids = list(enc["input_ids"][index])
            expected.append(_split_specials(ids, words, offsets, text, "char"))
        assert _encode_many(texts, tok, "char", add_special_tokens) == expected
