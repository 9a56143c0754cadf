"""Input features: bigram vocabularies, lexicon BMES matching, window-invariant gathering,
feature assets and caches with features."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from nerflow.data.records import Record, Span
from nerflow.features.bigrams import BIGRAM_FILE, build_bigram_vocab, text_bigrams
from nerflow.features.config import FeatureConfig
from nerflow.features.featurizer import (
    SPEC_FILE,
    Featurizer,
    build_feature_assets,
    build_featurizer,
    load_featurizer,
)
from nerflow.features.gazetteer import Gazetteer, unpack_bit_words
from nerflow.features.lexicon import (
    BIT_INDEX,
    LEXICON_BITS,
    LEXICON_FILE,
    Lexicon,
    read_word_list,
    unpack_bits,
)
from nerflow.features.matching import bmes_roles, lower_chars, proper_prefixes, substrings
from nerflow.features.spec import feature_spec, features_enabled
from nerflow.features.specials import UNK_ID
from nerflow.text.tagging import label_list
from nerflow.text.tokenization import tokenize, windows
from nerflow.training.cache import build_cache, check_cache, load_cache, save_cache

WORDS = {"北京": "loc", "北京银行": "org", "银行": "noun", "京": "other", "叶老桂": "per"}


def write_word_list(path: Path) -> Path:
    """A tiny jieba-format dictionary (word freq pos), with a mixed-case word."""
    lines = ["北京 100 ns", "北京银行 5 nt", "银行 80 n", "京 3 j", "叶老桂 1 nr", "ABC 2 nz"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bit(position: str, name: str) -> int:
    return 1 << BIT_INDEX[(position, name)]


# --------------------------------------------------------------------------- spec


def test_feature_spec_defaults_and_errors() -> None:
    spec = feature_spec(None)
    assert spec == FeatureConfig() and spec.bigram is False and spec.lexicon is False
    assert not features_enabled(spec) and not features_enabled(feature_spec({"bigram": False}))
    assert features_enabled(feature_spec({"lexicon": True}))
    with pytest.raises(ValueError, match="unknown"):
        feature_spec({"trigram": True})
    with pytest.raises(ValueError, match="less than the minimum of 1"):
        feature_spec({"bigram_min_freq": 0})
    with pytest.raises(ValueError, match="less than the minimum of 1"):
        feature_spec(FeatureConfig(bigram_dim=0))  # a block built directly is checked too


# --------------------------------------------------------------------------- bigrams


def test_text_bigrams_and_vocab() -> None:
    assert text_bigrams("北京") == ["\x02北", "北京", "京\x03"]
    assert text_bigrams("") == ["\x02\x03"]
    vocab = build_bigram_vocab(["北京北京", "北京上海"], min_freq=2)
    assert vocab[:2] == ["[PAD]", "[UNK]"]
    assert vocab[2] == "北京" and "\x02北" in vocab  # 3 times, then twice
    assert "京上" not in vocab  # seen once
    assert len(build_bigram_vocab(["北京北京", "北京上海"], min_freq=1)) > len(vocab)


def test_bigram_ids_per_character() -> None:
    vocab = build_bigram_vocab(["北京北京", "北京上海"], min_freq=1)
    featurizer = Featurizer({"bigram": True}, bigram=vocab)
    ids = featurizer.char_features("北京天")["bigram_ids"]
    index = {b: i for i, b in enumerate(vocab)}
    assert ids.shape == (3, 2)
    assert ids[0].tolist() == [index["\x02北"], index["北京"]]
    assert ids[1].tolist() == [index["北京"], UNK_ID]  # "京天" unseen
    assert ids[2].tolist() == [UNK_ID, UNK_ID]
    assert featurizer.char_features("")["bigram_ids"].shape == (0, 2)


# --------------------------------------------------------------------------- lexicon


def test_read_word_list(tmp_path: Path) -> None:
    words = read_word_list(write_word_list(tmp_path / "dict.txt"), max_len=3)
    assert words == {"北京": "loc", "银行": "noun", "京": "abbr", "叶老桂": "per", "abc": "nz"}


def test_lexicon_bmes_sets_overlaps_and_single_chars() -> None:
    lexicon = Lexicon(WORDS, max_len=4)
    sets = lexicon.match_sets("在北京银行")
    assert sets[0] == {"B": [], "M": [], "E": [], "S": []}
    assert sets[1] == {"B": ["北京", "北京银行"], "M": [], "E": [], "S": []}
    assert sets[2] == {"B": [], "M": ["北京银行"], "E": ["北京"], "S": ["京"]}
    assert sets[3] == {"B": ["银行"], "M": ["北京银行"], "E": [], "S": []}
    assert sets[4] == {"B": [], "M": [], "E": ["北京银行", "银行"], "S": []}
    assert Lexicon(WORDS, max_len=3).match_sets("北京银行")[3]["E"] == ["银行"]  # too long
    matches = lexicon.matches("在北京银行")
    assert lexicon.match_sets("在北京银行", matches) == sets


def test_match_sets_list_words_lower_cased_once_per_match() -> None:
    lexicon = Lexicon({"abc": "nz", "哈哈哈哈": "other"}, max_len=4)
    assert lexicon.match_sets("xABc")[1] == {"B": ["abc"], "M": [], "E": [], "S": []}
    # the middle character lies inside both occurrences of 哈哈哈哈 in 哈哈哈哈哈
    middle = lexicon.match_sets("哈哈哈哈哈")[2]
    assert middle == {"B": [], "M": ["哈哈哈哈", "哈哈哈哈"], "E": [], "S": []}


def test_matching_primitives() -> None:
    assert lower_chars("İxAB") == "İxab" and len(lower_chars("İ")) == 1
    assert list(substrings("abc", 2, 3)) == [(0, 2, "ab"), (0, 3, "abc"), (1, 3, "bc")]
    assert bmes_roles(4, 5) == [(4, "S")]
    assert bmes_roles(0, 2) == [(0, "B"), (1, "E")]
    assert bmes_roles(1, 5) == [(1, "B"), (2, "M"), (3, "M"), (4, "E")]


def test_substrings_cut_at_prefixes_still_reach_every_key() -> None:
    assert proper_prefixes(["abc", "b"]) == {"a", "ab"}
    pruned = list(substrings("xabcab", 1, 3, proper_prefixes(["abc", "b"])))
    assert [piece for *_, piece in pruned] == ["x", "a", "ab", "abc", "b", "c", "a", "ab", "b"]
    rng = random.Random(5)
    for _ in range(200):
        keys = {"".join(rng.choices("abcd", k=rng.randint(1, 5))) for _ in range(6)}
        text = "".join(rng.choices("abcde", k=rng.randint(0, 20)))
        low, high = rng.randint(1, 3), rng.randint(3, 6)
        everything = {s for s in substrings(text, low, high) if s[2] in keys}
        cut = [s for s in substrings(text, low, high, proper_prefixes(keys)) if s[2] in keys]
        assert cut == sorted(everything), (keys, text)


def test_lexicon_bits_classes_and_lengths() -> None:
    bits = Lexicon(WORDS, max_len=4).char_bits("在北京银行")
    assert bits[0] == 0
    assert bits[1] == bit("B", "loc") | bit("B", "len2") | bit("B", "org") | bit("B", "len4")
    assert bits[2] == (
        bit("M", "org") | bit("M", "len4") | bit("E", "loc") | bit("E", "len2") | bit("S", "other")
    )
    assert bits[4] == bit("E", "noun") | bit("E", "len2") | bit("E", "org") | bit("E", "len4")
    long_words = Lexicon({"一二三四五六": "nz"}, max_len=8).char_bits("一二三四五六")
    assert long_words[0] == bit("B", "nz") | bit("B", "len5")  # 5+ bucket
    assert long_words[3] == bit("M", "nz") | bit("M", "len5")
    multi_hot = unpack_bits(torch.tensor(bits))
    assert multi_hot.shape == (5, LEXICON_BITS)
    assert multi_hot[1].sum() == 4 and multi_hot[0].sum() == 0


def test_lexicon_matching_is_case_insensitive_and_keeps_offsets() -> None:
    lexicon = Lexicon({"abc": "nz", "İx": "other"}, max_len=3)
    assert lexicon.matches("xABCx") == [(1, 4, "nz")]
    assert lexicon.matches("İxABC") == [(0, 2, "other"), (2, 5, "nz")]  # İ kept as is


# --------------------------------------------------------------------------- tokens


def make_featurizer(tmp_path: Path, texts: list[str], **features) -> Featurizer:
    spec = {"bigram": True, "lexicon": True, "bigram_min_freq": 1, **features}
    spec["lexicon_path"] = str(write_word_list(tmp_path / "dict.txt"))
    return build_featurizer(texts, spec)


def test_token_features_zero_on_specials_and_follow_characters(tokenizer, tmp_path) -> None:
    featurizer = make_featurizer(tmp_path, ["北京银行在上海", "叶老桂认为"])
    text = "北京 银行"
    tok = tokenize(text, tokenizer, "char")
    feats = featurizer.encode(text, tok)
    chars = featurizer.char_features(text)
    assert feats["bigram_ids"].shape == (len(tok), 2) and feats["lexicon_bits"].shape == (len(tok),)
    for i, ((start, _), special) in enumerate(zip(tok.offsets, tok.special, strict=True)):
        if special:
            assert feats["bigram_ids"][i].tolist() == [0, 0] and feats["lexicon_bits"][i] == 0
        else:
            assert np.array_equal(feats["bigram_ids"][i], chars["bigram_ids"][start])
            assert feats["lexicon_bits"][i] == chars["lexicon_bits"][start]
    empty = featurizer.encode("", tokenize("", tokenizer, "char"))
    assert empty["bigram_ids"].shape == (2, 2) and empty["bigram_ids"].sum() == 0


def test_windows_see_the_features_of_the_full_text(tokenizer, tmp_path: Path) -> None:
    text = "叶老桂在北京银行上海北京银行了" * 3
    featurizer = make_featurizer(tmp_path, [text])
    full_tok = tokenize(text, tokenizer, "char")
    full = featurizer.encode(text, full_tok)
    by_char = {
        start: {name: tensor[i] for name, tensor in full.items()}
        for i, (start, _) in enumerate(full_tok.offsets)
        if not full_tok.special[i]
    }
    chars = featurizer.char_features(text)
    parts = windows(text, tokenizer, "char", max_len=10, stride=3)
    assert len(parts) > 3
    for tok in parts:
        feats = featurizer.token_features(tok, chars)
        for i, (start, _) in enumerate(tok.offsets):
            if tok.special[i]:
                continue
            for name, tensor in feats.items():
                assert np.array_equal(tensor[i], by_char[start][name])
    # a window-local computation would differ at the edges (the bigram leaves the window)
    first = parts[1]
    local_text = text[first.char_start : first.char_end]
    local = featurizer.char_features(local_text)["bigram_ids"]
    assert not np.array_equal(local[0], chars["bigram_ids"][first.char_start])


# --------------------------------------------------------------------------- assets


def test_feature_assets_round_trip(tmp_path: Path) -> None:
    texts = ["北京银行在上海", "叶老桂认为北京"]
    words = str(write_word_list(tmp_path / "dict.txt"))
    assert build_feature_assets(texts, {"bigram": False}, tmp_path / "none") is None
    assert not (tmp_path / "none").exists()
    spec = {"bigram": True, "lexicon": True, "bigram_min_freq": 1, "lexicon_path": words}
    built = build_feature_assets(texts, spec, tmp_path / "assets")
    assert built is not None
    for name in (SPEC_FILE, BIGRAM_FILE, LEXICON_FILE):
        assert (tmp_path / "assets" / name).exists()
    loaded = Featurizer.load(tmp_path / "assets", spec)
    assert loaded.fingerprint() == built.fingerprint()
    assert (
        loaded.part("bigram").vocab == built.part("bigram").vocab
        and loaded.part("lexicon").lexicon.words == built.part("lexicon").lexicon.words
    )
    text = "叶老桂在北京银行"
    for name, tensor in built.char_features(text).items():
        assert np.array_equal(tensor, loaded.char_features(text)[name])
    assert json.loads((tmp_path / "assets" / SPEC_FILE).read_text())["fingerprint"] == (
        built.fingerprint()
    )
    with pytest.raises(ValueError, match="built for"):
        Featurizer.load(tmp_path / "assets", {**spec, "bigram_min_freq": 2})
    assert load_featurizer({"bigram": False}, None) is None
    with pytest.raises(ValueError, match="feature_dir"):
        load_featurizer(spec, None)
    with pytest.raises(FileNotFoundError):
        load_featurizer(spec, tmp_path / "none")
    only_bigrams = build_feature_assets(texts, {"bigram": True}, tmp_path / "assets")
    assert not (tmp_path / "assets" / LEXICON_FILE).exists()
    assert only_bigrams.tensor_names == ["bigram_ids"]


def test_jieba_dictionary_lexicon() -> None:
    pytest.importorskip("jieba")
    featurizer = build_featurizer([], {"lexicon": True})
    assert len(featurizer.part("lexicon").lexicon) > 300_000
    sets = featurizer.part("lexicon").lexicon.match_sets("北京天安门")
    assert "北京" in sets[0]["B"] and "天安门" in sets[4]["E"]
    assert featurizer.part("lexicon").lexicon.words["北京"] == "loc"


# --------------------------------------------------------------------------- cache


def test_cache_with_features(tokenizer, tmp_path: Path) -> None:
    records = [
        Record(0, "叶老桂在北京银行", [Span(0, 2, "name"), Span(4, 7, "company")]),
        Record(1, "上海 北京", [Span(0, 1, "address"), Span(3, 4, "address")]),
        Record(2, "", []),
    ]
    labels = label_list(["address", "company", "name"], "BIOS")
    words = str(write_word_list(tmp_path / "dict.txt"))
    spec = {"bigram": True, "lexicon": True, "bigram_min_freq": 1, "lexicon_path": words}
    featurizer = build_feature_assets([r.text for r in records], spec, tmp_path / "assets")
    plain = build_cache(records, tokenizer, "char", 6, "BIOS", labels, stride=1)
    assert plain.features == {} and plain.meta.features is None
    cache = build_cache(
        records,
        tokenizer,
        "char",
        6,
        "BIOS",
        labels,
        features=spec,
        feature_dir=tmp_path / "assets",
        stride=1,
    )
    assert cache.meta.features["fingerprint"] == featurizer.fingerprint()
    assert set(cache.features) == {"bigram_ids", "lexicon_bits"}
    chars = featurizer.char_features(records[0].text)
    for name, per_record in cache.features.items():
        assert [len(t) for t in per_record] == [len(t) for t in cache.input_ids]
        assert per_record[0][0].abs().sum() == 0 and per_record[0][-1].abs().sum() == 0
        # truncated to 4 content tokens: still the full text's features
        assert np.array_equal(per_record[0][1:5], chars[name][:4])
    save_cache(tmp_path / "cache.pt", cache)
    again = load_cache(tmp_path / "cache.pt")
    assert np.array_equal(again.features["bigram_ids"][1], cache.features["bigram_ids"][1])
    check_cache(again, tokenizer, labels, "BIOS", featurizer)
    with pytest.raises(ValueError, match="features"):
        check_cache(again, tokenizer, labels, "BIOS", None)
    with pytest.raises(ValueError, match="features"):
        check_cache(plain, tokenizer, labels, "BIOS", featurizer)
    same = build_cache(records, tokenizer, "char", 6, "BIOS", labels, featurizer, stride=1)
    assert np.array_equal(same.features["lexicon_bits"][0], cache.features["lexicon_bits"][0])


# --------------------------------------------------------------------------- lexicon words


def test_lexicon_word_ids_per_bme_set(tmp_path: Path) -> None:
    words = write_word_list(tmp_path / "dict.txt")
    spec = {"lexicon_words": True, "lexicon_word_k": 1, "lexicon_path": str(words)}
    featurizer = build_featurizer(["北京银行", "在北京"], spec)
    assert featurizer.tensor_names == ["lexicon_word_ids"]
    assert featurizer.part("lexicon").word_vocab == ["[PAD]", "[UNK]", "北京", "北京银行", "银行"]
    index = featurizer.part("lexicon").word_index
    ids = featurizer.char_features("叶老桂在北京银行")["lexicon_word_ids"]
    assert ids.shape == (8, 3, 1)
    assert ids[0, :, 0].tolist() == [UNK_ID, 0, 0]  # 叶老桂: a lexicon word unseen in train
    assert ids[1, :, 0].tolist() == [0, UNK_ID, 0]
    assert ids[2, :, 0].tolist() == [0, 0, UNK_ID]
    assert ids[3].sum() == 0  # 在: no multi-character word
    assert ids[4, :, 0].tolist() == [index["北京银行"], 0, 0]  # k=1: the longest of 北京银行/北京
    assert ids[5, :, 0].tolist() == [0, index["北京银行"], index["北京"]]
    assert ids[7, :, 0].tolist() == [0, 0, index["北京银行"]]
    wide = build_featurizer(["北京银行"], {**spec, "lexicon_word_k": 3})
    both = wide.char_features("北京银行")["lexicon_word_ids"][0, 0].tolist()
    assert both == [
        wide.part("lexicon").word_index["北京银行"],
        wide.part("lexicon").word_index["北京"],
        0,
    ]
    assets = build_feature_assets(["北京银行", "在北京"], spec, tmp_path / "assets")
    loaded = Featurizer.load(tmp_path / "assets", spec)
    assert (
        loaded.part("lexicon").word_vocab == assets.part("lexicon").word_vocab
        and loaded.fingerprint() == assets.fingerprint()
    )
    assert np.array_equal(loaded.char_features("叶老桂在北京银行")["lexicon_word_ids"], ids)
    with pytest.raises(ValueError, match="built for"):
        Featurizer.load(tmp_path / "assets", {**spec, "lexicon_word_k": 2})
    dims = Featurizer.load(tmp_path / "assets", {**spec, "lexicon_word_dim": 7})
    assert dims.spec.lexicon_word_dim == 7  # model sizes come from the experiment


def test_lexicon_word_ids_come_from_the_match_sets(tmp_path: Path) -> None:
    words = tmp_path / "dict.txt"
    words.write_text("哈哈哈哈 1 x\n哈哈 9 x\nAB 1 nz\n", encoding="utf-8")
    spec = {"lexicon_words": True, "lexicon_word_k": 3, "lexicon_path": str(words)}
    featurizer = build_featurizer(["哈哈哈哈哈", "ab"], spec)
    index = featurizer.part("lexicon").word_index
    text = "哈哈哈哈哈Ab"
    sets = featurizer.part("lexicon").lexicon.match_sets(text)
    ids = featurizer.char_features(text)["lexicon_word_ids"]
    for char, per_position in enumerate(sets):
        for row, position in enumerate("BME"):
            chosen = sorted(per_position[position], key=lambda w: (-len(w), w))[:3]
            assert ids[char, row].tolist() == [index[w] for w in chosen] + [0] * (3 - len(chosen))
    # a word matched twice around a character counts twice in its mean embedding
    assert ids[2, 1].tolist() == [index["哈哈哈哈"], index["哈哈哈哈"], 0]
    assert ids[5, 0].tolist() == [index["ab"], 0, 0]


def test_feature_inputs_average_word_embeddings() -> None:
    from nerflow.features.embeddings import FeatureInputs

    inputs = FeatureInputs(word_vocab_size=6, word_dim=4)
    assert inputs.names == ["lexicon_word_ids"] and inputs.output_dim == 12
    ids = torch.tensor([[[[2, 3], [0, 0], [5, 0]]]])  # [batch 1, seq 1, 3 sets, k 2]
    out = inputs(lexicon_word_ids=ids)
    table = inputs.words.weight
    expected = torch.cat([(table[2] + table[3]) / 2, torch.zeros(4), table[5]])
    assert torch.allclose(out[0, 0], expected)


# --------------------------------------------------------------------------- gazetteer

GAZETTEER_TRAIN = [
    Record(0, "张三在北京银行", [Span(0, 1, "name"), Span(3, 6, "company")]),
    Record(1, "李四去了北京", [Span(0, 1, "name"), Span(4, 5, "address")]),
    Record(2, "北京银行开业", [Span(0, 3, "company")]),
    Record(3, "王五", [Span(0, 1, "name")]),
]


def gazetteer_bits_of(featurizer: Featurizer, text: str) -> list[set[tuple[str, str]]]:
    """Per character, the decoded gazetteer bits as {(type, position)}."""
    gazetteer = featurizer.part("gazetteer").gazetteer
    assert gazetteer is not None
    words = torch.from_numpy(featurizer.char_features(text)["gazetteer_bits"])
    unpacked = unpack_bit_words(words, gazetteer.n_bits)
    return [
        {(gazetteer.types[bit // 4], "BMES"[bit % 4]) for bit in row.nonzero().flatten().tolist()}
        for row in unpacked
    ]


def test_gazetteer_matches_train_strings_per_type(tmp_path: Path) -> None:
    spec = {"gazetteer": True, "gazetteer_folds": 2}
    featurizer = build_featurizer([r.text for r in GAZETTEER_TRAIN], spec, GAZETTEER_TRAIN)
    gazetteer = featurizer.part("gazetteer").gazetteer
    assert gazetteer is not None and featurizer.tensor_names == ["gazetteer_bits"]
    assert (
        gazetteer.types == ["address", "company", "name"]
        and featurizer.sizes()["gazetteer_bits"] == 12
    )
    # a new text sees every string; 北京 is both an address and part of a company
    bits = gazetteer_bits_of(featurizer, "王五说北京银行好")
    assert bits[0] == {("name", "B")} and bits[1] == {("name", "E")} and bits[2] == set()
    assert bits[3] == {("company", "B"), ("address", "B")}
    assert bits[4] == {("company", "M"), ("address", "E")}
    assert bits[6] == {("company", "E")} and bits[7] == set()
    # case-insensitive, offsets unchanged
    assert Featurizer(
        spec,
        gazetteer=Gazetteer.from_records([Record(0, "ABC公司", [Span(0, 4, "company")])], 2, 2, 16),
    ).part("gazetteer").gazetteer.matches("abc公司") == [(0, 5, "company")]


def test_gazetteer_train_texts_only_see_other_folds(tmp_path: Path) -> None:
    spec = {"gazetteer": True, "gazetteer_folds": 2}
    featurizer = build_featurizer([r.text for r in GAZETTEER_TRAIN], spec, GAZETTEER_TRAIN)
    gazetteer = featurizer.part("gazetteer").gazetteer
    assert gazetteer is not None
    # record 0 (fold 0): 张三 was only annotated in fold 0 -> unseen; 北京银行 is also in
    # record 2 (fold 0) -> unseen; 北京 (address) comes from record 1 (fold 1) -> seen
    assert gazetteer.matches(GAZETTEER_TRAIN[0].text) == [(3, 5, "address")]
    # record 3 (fold 1): 王五 only in its own fold
    assert gazetteer.matches(GAZETTEER_TRAIN[3].text) == []
    # the same string in a text that is not a train text is matched
    assert gazetteer.matches("张三") == [(0, 2, "name")]
    # out-of-fold matching survives saving and loading the assets
    assets = build_feature_assets(
        [r.text for r in GAZETTEER_TRAIN], spec, tmp_path / "assets", GAZETTEER_TRAIN
    )
    loaded = Featurizer.load(tmp_path / "assets", spec)
    assert loaded.fingerprint() == assets.fingerprint()
    assert loaded.part("gazetteer").gazetteer.matches(GAZETTEER_TRAIN[0].text) == [
        (3, 5, "address")
    ]
    text = GAZETTEER_TRAIN[1].text
    assert np.array_equal(
        loaded.char_features(text)["gazetteer_bits"], assets.char_features(text)["gazetteer_bits"]
    )
    with pytest.raises(ValueError, match="built for"):
        Featurizer.load(tmp_path / "assets", {**spec, "gazetteer_folds": 3})


def test_gazetteer_needs_records_and_sane_settings() -> None:
    with pytest.raises(ValueError, match="train records"):
        build_featurizer(["北京"], {"gazetteer": True})
    with pytest.raises(ValueError, match="gazetteer_folds"):
        feature_spec({"gazetteer": True, "gazetteer_folds": 1})
    with pytest.raises(ValueError, match="gazetteer_min_len"):
        feature_spec({"gazetteer": True, "gazetteer_min_len": 5, "gazetteer_max_len": 3})
    assert features_enabled(feature_spec({"gazetteer": True}))


def test_gazetteer_bits_span_several_words_for_many_types() -> None:
    types = [f"t{i:02d}" for i in range(20)]  # 80 bits: two int64 columns
    records = [Record(i, f"甲{i:02d}乙", [Span(0, 3, t)]) for i, t in enumerate(types)]
    gazetteer = Gazetteer.from_records(records, 2, 2, 16)
    assert gazetteer.n_bits == 80 and gazetteer.n_words == 2
    featurizer = Featurizer({"gazetteer": True}, gazetteer=gazetteer)
    bits = gazetteer_bits_of(featurizer, "看甲19乙")
    assert bits[1] == {("t19", "B")} and bits[2] == {("t19", "M")} and bits[4] == {("t19", "E")}
