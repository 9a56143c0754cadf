"""Masked-LM pretraining: word segmentation, masking statistics, save/load as an encoder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_scratch

from nerflow.config.scratch import PretrainConfig
from nerflow.models.scratch_bert import scratch_bert_config
from nerflow.pretraining.masking import load_lexicon, mask_tokens, whole_word_spans
from nerflow.pretraining.mlm import encode_texts, split_heldout
from nerflow.pretraining.pretrain import META_FILE, pretrain_mlm
from nerflow.tensors import IGNORE_INDEX
from nerflow.text.vocab import build_char_vocab, load_tokenizer, save_char_tokenizer

TEXTS = [
    "浙商银行企业信贷部叶老桂博士认为，",
    "北京大学生在上海国际足球俱乐部踢球。",
    "那不勒斯vs锡耶纳以及桑普vs热那亚之上呢？",
    "iPhone 12售价￥5999元，ac米兰 CS1.6",
    "我在北京上海大学读书，是中国人。",
    "老桂认为米兰的球队有人才。",
]
TINY = tiny_scratch()


@pytest.fixture(scope="module")
def char_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("char_tokenizer")
    save_char_tokenizer(build_char_vocab(TEXTS), directory)
    return directory


@pytest.fixture(scope="module")
def char_tokenizer(char_tokenizer_dir: Path):
    return load_tokenizer(char_tokenizer_dir)


def tile(text: str, spans: list[tuple[int, int]]) -> list[str]:
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    return [text[start:end] for start, end in spans]


# --------------------------------------------------------------------------- words


def test_whole_word_spans_forward_max_match() -> None:
    lexicon = {"北京", "北京大学", "大学生", "上海", "俱乐部"}
    text = "北京大学生在上海俱乐部"
    assert tile(text, whole_word_spans(text, lexicon)) == [
        "北京大学",
        "生",
        "在",
        "上海",
        "俱乐部",
    ]
    text = "iPhone 12售价￥5999元"
    assert tile(text, whole_word_spans(text, lexicon)) == [
        "iPhone",
        " ",
        "12",
        "售",
        "价",
        "￥",
        "5999",
        "元",
    ]
    assert whole_word_spans("", lexicon) == []


def test_whole_word_spans_jieba_custom_dictionary(tmp_path: Path) -> None:
    pytest.importorskip("jieba")
    dictionary = tmp_path / "dict.txt"
    dictionary.write_text("北京 100\n北京大学 5\n大学生 100\n上海 100\n", encoding="utf-8")
    lexicon = load_lexicon(dictionary)
    text = "北京大学生在上海"
    # maximum probability, not greedy: 北京 + 大学生 beats 北京大学 + 生
    assert tile(text, whole_word_spans(text, lexicon)) == ["北京", "大学生", "在", "上海"]
    assert whole_word_spans(text, lexicon) == whole_word_spans(text, lexicon)


def test_whole_word_spans_jieba_default_dictionary() -> None:
    pytest.importorskip("jieba")
    lexicon = load_lexicon("jieba")
    text = TEXTS[0]
    words = tile(text, whole_word_spans(text, lexicon))
    assert "银行" in words and "博士" in words
    text = TEXTS[3]
    words = tile(text, whole_word_spans(text, lexicon))
    assert "iPhone" in words and "5999" in words


def test_encode_texts_word_ids_and_windows(char_tokenizer) -> None:
    lexicon = {"北京", "大学生", "上海"}
    text = "北京大学生在上海"
    (example,) = encode_texts([text], char_tokenizer, 32, "char", lexicon)
    assert example.input_ids[0] == char_tokenizer.cls_token_id
    assert example.input_ids[-1] == char_tokenizer.sep_token_id
    assert example.word_ids == [-1, 0, 0, 1, 1, 1, 2, 3, 3, -1]
    no_words = encode_texts([text], char_tokenizer, 32, "char", None)[0]
    assert no_words.word_ids == [-1, 0, 1, 2, 3, 4, 5, 6, 7, -1]
    pieces = encode_texts([text], char_tokenizer, 5, "char", lexicon)  # 3 content tokens each
    assert [ex.word_ids for ex in pieces] == [
        [-1, 0, 0, 1, -1],
        [-1, 1, 1, 2, -1],
        [-1, 2, 3, 3, -1],  # the last window ends on the last token
    ]
    assert encode_texts(["   "], char_tokenizer, 8, "char", lexicon) == []


def test_split_heldout_and_config(char_tokenizer, tmp_path: Path) -> None:
    train, held = split_heldout(100, 0.02, seed=1)
    assert len(held) == 2 and sorted(train + held) == list(range(100))
    assert split_heldout(100, 0.02, seed=1) == (train, held)
    assert split_heldout(10, 0.02, seed=1)[1] != [] and split_heldout(10, 0.0, 1)[1] == []
    with pytest.raises(ValueError, match="unknown"):
        pretrain_mlm(TEXTS, tmp_path / "tokenizer", tmp_path / "out", {"layer": 2})
    with pytest.raises(ValueError, match="not a multiple of heads"):
        scratch_bert_config(PretrainConfig(hidden=30, heads=4), char_tokenizer, 64)


# --------------------------------------------------------------------------- masking


def synthetic_batch(tokenizer, rows: int = 400, width: int = 60, seed: int = 0):
    """Random rows: [CLS] words of 1-4 tokens (some [UNK]) [SEP] [PAD]..."""
    generator = torch.Generator().manual_seed(seed)
    special = set(tokenizer.all_special_ids)
    ordinary = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    ids = torch.full((rows, width), tokenizer.pad_token_id)
    words = torch.full((rows, width), -1)
    for row in range(rows):
        length = int(torch.randint(10, width - 1, (1,), generator=generator))
        ids[row, 0] = tokenizer.cls_token_id
        position, word = 1, 0
        while position < length:
            size = min(int(torch.randint(1, 5, (1,), generator=generator)), length - position)
            pick = torch.randint(len(ordinary), (size,), generator=generator)
            ids[row, position : position + size] = ordinary[pick]
            words[row, position : position + size] = word
            position, word = position + size, word + 1
        ids[row, length] = tokenizer.sep_token_id
    ids[::7, 3] = tokenizer.unk_token_id  # inside words, with a word id
    return ids, words


def test_mask_tokens_statistics(char_tokenizer) -> None:
    tok = char_tokenizer
    ids, words = synthetic_batch(tok)
    before = ids.clone()
    generator = torch.Generator().manual_seed(123)
    masked, labels = mask_tokens(ids, words, tok, 0.15, whole_word=True, generator=generator)
    assert torch.equal(ids, before)  # inputs untouched
    selected = labels != IGNORE_INDEX
    specials = torch.isin(ids, torch.tensor(tok.all_special_ids))
    maskable = (words >= 0) & ~specials
    assert not (selected & ~maskable).any()  # specials, [UNK] and padding never selected
    rate = selected.sum().item() / maskable.sum().item()
    assert 0.13 < rate < 0.17
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(masked[~selected], ids[~selected])
    # whole words: all tokens of a word share the decision
    for row in range(ids.size(0)):
        for word in words[row].unique().tolist():
            if word < 0:
                continue
            decision = selected[row][(words[row] == word) & maskable[row]]
            assert decision.all() or not decision.any()
    # 80 / 10 / 10
    n = selected.sum().item()
    as_mask = (masked[selected] == tok.mask_token_id).sum().item() / n
    kept = (masked[selected] == ids[selected]).sum().item() / n
    assert 0.76 < as_mask < 0.84
    assert 0.07 < kept < 0.13  # ~10 % kept, plus random picks of the same token
    replaced = selected & (masked != ids) & (masked != tok.mask_token_id)
    assert 0.07 < replaced.sum().item() / n < 0.13
    assert not torch.isin(masked[replaced], torch.tensor(tok.all_special_ids)).any()


def test_mask_tokens_token_level_and_determinism(char_tokenizer) -> None:
    tok = char_tokenizer
    ids, words = synthetic_batch(tok, rows=200)
    first = mask_tokens(ids, words, tok, 0.15, False, torch.Generator().manual_seed(5))
    again = mask_tokens(ids, words, tok, 0.15, False, torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    selected = first[1] != IGNORE_INDEX
    split_words = 0
    for row in range(ids.size(0)):
        for word in words[row].unique().tolist():
            decision = selected[row][words[row] == word]
            split_words += int(word >= 0 and decision.any() and not decision.all())
    assert split_words > 0  # token-level masking does split words
    maskable = (words >= 0) & ~torch.isin(ids, torch.tensor(tok.all_special_ids))
    assert 0.13 < selected.sum().item() / maskable.sum().item() < 0.17


def test_mask_tokens_accepts_lists_with_none(char_tokenizer) -> None:
    tok = char_tokenizer
    ids = [[tok.cls_token_id, 7, 8, 9, tok.sep_token_id]]
    masked, labels = mask_tokens(ids, [[None, 0, 0, 1, None]], tok, 1.0, True)
    assert labels.tolist() == [[IGNORE_INDEX, 7, 8, 9, IGNORE_INDEX]]
    masked, labels = mask_tokens(ids, [[None, 0, 0, 1, None]], tok, 0.0, True)
    assert (labels == IGNORE_INDEX).all() and masked.tolist() == ids


# --------------------------------------------------------------------------- pretraining


def test_pretrain_saves_an_encoder_that_loads_for_tagging(
    char_tokenizer_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForTokenClassification, BertForMaskedLM

    texts = [text for _ in range(6) for text in TEXTS]  # 36 texts
    out, log = tmp_path / "model", tmp_path / "log.jsonl"
    config = dict(TINY, epochs=2, batch_size=8, lr=1e-3, eval_every_steps=5, seed=3)
    config["whole_word"] = importlib.util.find_spec("jieba") is not None
    summary = pretrain_mlm(texts, char_tokenizer_dir, out, config, threads=1, log_path=log)

    assert summary["steps"] == summary["planned_steps"] == 2 * 5  # 35 train texts, batch 8
    assert summary["n_heldout_texts"] == 1 and summary["stop_reason"] == "epochs"
    assert 0.0 <= summary["heldout_accuracy"] <= 1.0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["step"] for line in lines] == [5, 10]  # every 5 steps = epoch ends, once
    assert [line["epoch"] for line in lines] == [1, 2]
    # the tagger's schedule: round(0.06 * 10) = 1 warmup step, then linear decay to 0
    assert [line["lr"] for line in lines] == pytest.approx([1e-3 * 5 / 9, 0.0])
    for key in ("step", "loss", "heldout_accuracy", "elapsed_s", "sentences_per_s"):
        assert all(line[key] is not None for line in lines), key
    meta = json.loads((out / META_FILE).read_text())
    assert meta["summary"] == summary and meta["config"]["hidden"] == 32

    tokenizer = load_tokenizer(out)
    assert tokenizer.get_vocab() == load_tokenizer(char_tokenizer_dir).get_vocab()
    mlm = BertForMaskedLM.from_pretrained(str(out))
    assert mlm.config.vocab_size == len(tokenizer)
    tagger = AutoModelForTokenClassification.from_pretrained(
        str(out), num_labels=5, ignore_mismatched_sizes=True
    )
    mlm_state, tag_state = mlm.bert.state_dict(), tagger.bert.state_dict()
    assert set(tag_state) <= set(mlm_state)
    for name, tensor in tag_state.items():
        assert torch.equal(tensor, mlm_state[name]), name
    # and really trained weights, not a fresh init that happens to be reproducible
    fresh = AutoModelForTokenClassification.from_config(mlm.config)
    weight = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(fresh.bert.state_dict()[weight], tag_state[weight])


def test_pretrained_folder_as_experiment_encoder(char_tokenizer_dir: Path, tmp_path: Path) -> None:
    from transformers import BertForMaskedLM

    from nerflow.models.factory import build_emitter

    out = tmp_path / "model"
    config = dict(TINY, epochs=1, batch_size=8, whole_word=False, heldout_fraction=0.0)
    pretrain_mlm(TEXTS * 3, char_tokenizer_dir, out, config, threads=1)
    tokenizer = load_tokenizer(out)
    exp_cfg = {"encoder": str(out), "max_len": 64, "scheme": "BIOS", "head": "softmax"}
    emitter = build_emitter(exp_cfg, ["O", "B-name", "I-name", "S-name"], tokenizer)
    saved = BertForMaskedLM.from_pretrained(str(out)).bert.embeddings.word_embeddings.weight
    assert torch.equal(emitter.model.bert.embeddings.word_embeddings.weight, saved)


def test_pretrain_loss_decreases_on_memorisable_corpus(
    char_tokenizer_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "log.jsonl"
    config = dict(
        TINY,
        hidden=64,
        intermediate=128,
        epochs=12,
        batch_size=16,
        lr=3e-3,
        warmup_ratio=0.1,
        whole_word=False,
        heldout_fraction=0.0,
        mlm_probability=0.3,
    )
    summary = pretrain_mlm(
        TEXTS[:3] * 16, char_tokenizer_dir, tmp_path / "m", config, threads=1, log_path=log
    )
    losses = [json.loads(line)["loss"] for line in log.read_text().splitlines()]
    assert len(losses) == 12 and summary["steps"] == 36
    assert losses[-1] < 0.6 * losses[0], losses
    assert summary["heldout_accuracy"] is None


def test_pretrain_time_limit(char_tokenizer_dir: Path, tmp_path: Path) -> None:
    config = dict(TINY, epochs=1000, batch_size=4, whole_word=False, max_minutes=0.002)
    summary = pretrain_mlm(TEXTS * 4, char_tokenizer_dir, tmp_path / "m", config, threads=1)
    assert summary["stop_reason"] == "max_minutes"
    assert 0 < summary["steps"] < summary["planned_steps"]
    assert (tmp_path / "m" / "config.json").is_file()


# --------------------------------------------------------------------------- resume


class Interrupted(Exception):
    """Raised from ``on_checkpoint``: a run that dies right after writing a checkpoint."""


def interrupt_at(step: int):
    def hook(progress: dict) -> None:
        if progress["global_step"] == step:
            raise Interrupted

    return hook


def without_timing(lines: list[dict]) -> list[dict]:
    return [
        {k: v for k, v in line.items() if k not in ("elapsed_s", "sentences_per_s")}
        for line in lines
    ]


def test_pretrain_resumes_from_a_checkpoint_to_the_same_weights(
    char_tokenizer_dir: Path, tmp_path: Path
) -> None:
    texts = [text for _ in range(6) for text in TEXTS]  # 35 train texts: 5 steps an epoch
    # dropout on: the resumed run needs the global random state as well as the masking's
    config = dict(TINY, dropout=0.1, epochs=3, batch_size=8, lr=1e-3, whole_word=False, seed=3)
    config["eval_every_steps"] = 3  # checkpoints at steps 3, 5, 6, 9, 10, 12, 15
    reference = pretrain_mlm(
        texts, char_tokenizer_dir, tmp_path / "ref", config, threads=1, log_path=tmp_path / "r"
    )
    out, log = tmp_path / "model", tmp_path / "log.jsonl"
    with pytest.raises(Interrupted):  # dies in the middle of the second epoch
        pretrain_mlm(texts, char_tokenizer_dir, out, config, 1, log, on_checkpoint=interrupt_at(6))
    checkpoint = tmp_path / "model.checkpoint/state.pt"  # the default: beside the output
    assert checkpoint.is_file() and not out.exists()

    # max_minutes may change between the two runs (here: a budget that is never reached)
    resumed = pretrain_mlm(texts, char_tokenizer_dir, out, dict(config, max_minutes=60), 1, log)
    assert resumed["resumed_from"] == {"epoch": 1, "step_in_epoch": 1, "step": 6}
    assert reference["resumed_from"] is None
    assert not checkpoint.parent.exists()  # removed after success
    weights = "model.safetensors"
    assert (out / weights).read_bytes() == (tmp_path / "ref" / weights).read_bytes()
    timing = ("minutes", "sentences_per_s", "resumed_from")
    assert {k: v for k, v in resumed.items() if k not in timing} == {
        k: v for k, v in reference.items() if k not in timing
    }
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    reference_lines = [json.loads(line) for line in (tmp_path / "r").read_text().splitlines()]
    assert [line["step"] for line in lines] == [3, 5, 6, 9, 10, 12, 15]
    assert without_timing(lines) == without_timing(reference_lines)
    assert json.loads((out / META_FILE).read_text())["summary"] == resumed


def test_pretrain_ignores_a_checkpoint_of_other_settings(
    char_tokenizer_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = dict(TINY, epochs=2, batch_size=8, whole_word=False, heldout_fraction=0.0)
    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(Interrupted):
        pretrain_mlm(
            TEXTS * 4,
            char_tokenizer_dir,
            tmp_path / "m",
            config,
            1,
            checkpoint_dir=checkpoints,
            on_checkpoint=interrupt_at(3),
        )
    assert (checkpoints / "state.pt").is_file()
    with caplog.at_level("WARNING", logger="nerflow.pretraining.pretrain"):
        summary = pretrain_mlm(
            TEXTS * 4,
            char_tokenizer_dir,
            tmp_path / "m",
            dict(config, lr=1e-3),
            1,
            checkpoint_dir=checkpoints,
        )
    assert summary["resumed_from"] is None and summary["steps"] == 6
    assert "belongs to another config or data set" in caplog.text
    assert not checkpoints.exists()
