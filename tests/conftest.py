"""Shared fixtures and helpers: a tiny BERT-style WordPiece vocabulary saved as a tokenizer
folder, synthetic annotated records and tiny experiments that train in seconds.

The helpers are plain functions (``from conftest import make_records``) so that
``tests/golden.py`` uses them too."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Chinese characters used by the tests, full-width punctuation, Latin/digit pieces
# (so that WordPiece splits runs such as "ac米兰" or "CS1.6" the way bert-base-chinese does).
TEST_CHARS = list(
    "北京上海浙商银行企业信贷部叶老桂博士认为米兰国际足球俱乐部的我在了是中有人大学生"
    "那不勒斯锡耶纳桑普热亚之呢，。：《》“”！？、（）１２３ＡＢ"
)
WORD_PIECES = [
    "a", "c", "s", "o", "l", "m", "i", "n", "1", "2", "3", "5", "6", "9", ".", "￥",
    "ac", "cs", "##ol", "##s", "##o", "##l", "##1", "##2", "##3", "##5", "##6", "##9",
    "##59", "##99", "##.", "##c", "##a",
]  # fmt: skip


def write_vocab(directory: Path, tokens: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    vocab = list(dict.fromkeys(SPECIAL_TOKENS + tokens))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that ``AutoTokenizer.from_pretrained`` loads as a lower-casing BERT tokenizer."""
    directory = write_vocab(tmp_path_factory.mktemp("tokenizer"), TEST_CHARS + WORD_PIECES)
    from transformers import BertTokenizerFast

    BertTokenizerFast(vocab=str(directory / "vocab.txt"), do_lower_case=True).save_pretrained(
        str(directory)
    )
    return directory


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


# --------------------------------------------------------------------------- records

ENTITIES = {
    "name": ["叶老桂", "桑普", "叶桂"],
    "company": ["浙商银行", "上海银行", "北京银行"],
    "address": ["北京", "上海", "锡耶纳"],
    "organization": ["米兰国际足球俱乐部", "那不勒斯"],
}
"""Entity words of :func:`make_records` by type (all in :data:`TEST_CHARS`)."""
FILLER = "我在了是中有人大学生的呢，。"
TYPES = sorted(ENTITIES)


def make_records(n: int, seed: int = 0) -> list:
    """``n`` synthetic records: filler characters around 1-3 entities of :data:`ENTITIES`."""
    from nerflow.data.records import Record, Span

    rng = random.Random(seed)
    records = []
    for i in range(n):
        text, spans = "", []
        for _ in range(rng.randint(1, 3)):
            text += "".join(rng.choice(FILLER) for _ in range(rng.randint(1, 4)))
            entity_type = rng.choice(TYPES)
            word = rng.choice(ENTITIES[entity_type])
            spans.append(Span(len(text), len(text) + len(word) - 1, entity_type))
            text += word
        text += "".join(rng.choice(FILLER) for _ in range(rng.randint(0, 3)))
        records.append(Record(i, text, spans))
    return records


def write_word_list(path: Path) -> Path:
    """A jieba-format word list (``word freq tag``) of the ``name`` (nr) and ``company``
    (nt) entities of :data:`ENTITIES`: the lexicon of the feature tests."""
    path.write_text(
        "".join(
            f"{w} 5 {tag}\n"
            for tag, ws in (("nr", ENTITIES["name"]), ("nt", ENTITIES["company"]))
            for w in ws
        ),
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- experiments


def tiny_scratch(hidden: int = 32, dropout: float = 0.0) -> dict[str, Any]:
    """The ``scratch`` block of a one-layer, two-head BERT ``hidden`` wide."""
    return {
        "layers": 1,
        "hidden": hidden,
        "heads": 2,
        "intermediate": 2 * hidden,
        "dropout": dropout,
    }


def tiny_train(**overrides: Any) -> dict[str, Any]:
    """A ``train`` block that makes a tiny tagger memorise a toy set in seconds (high
    learning rates, no warmup, decay or early stopping)."""
    return {
        "epochs": 2,
        "batch_size": 4,
        "lr": 3e-3,
        "head_lr": 1e-2,
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "grad_clip": 1.0,
        "seed": 1,
        "patience": 0,
        "select_metric": "micro_f1",
        "amp": "auto",
        "device": "auto",
        "eval_every_steps": 0,
        "max_minutes": 0,
        **overrides,
    }


def tiny_experiment(
    head: str = "softmax",
    scheme: str = "BIOS",
    hidden: int = 32,
    dropout: float = 0.0,
    **overrides: Any,
) -> dict[str, Any]:
    """An experiment as the workflow passes it (a dict): a :func:`tiny_scratch` encoder,
    character tokens, windows of 32 sharing 8; ``overrides`` replace keys."""
    return {
        "encoder": "scratch",
        "scratch": tiny_scratch(hidden, dropout),
        "head": head,
        "tokenization": "char",
        "max_len": 32,
        "stride": 8,
        "scheme": scheme,
        **overrides,
    }


def save_tiny_models(
    root: Path,
    texts: list[str],
    types: list[str],
    members: list[tuple[str, str, int]],
    max_len: int = 32,
    stride: int = 8,
) -> dict[str, Path]:
    """Random-init tiny model folders under ``root``, one per ``(name, head, seed)`` of
    ``members`` (BIOES, a character tokenizer of ``texts``): fixtures of the command line
    and the server, built in seconds without training."""
    import torch

    from nerflow.models.factory import build_model
    from nerflow.models.folder import save_model
    from nerflow.text.tagging import label_list
    from nerflow.text.vocab import save_char_tokenizer

    chars = sorted(set("".join(texts)) - {" ", "\t", "\u00a0"})
    tokenizer = save_char_tokenizer([*SPECIAL_TOKENS, *chars], root)
    folders = {}
    for name, head, seed in members:
        cfg = tiny_experiment(
            head, "BIOES", dropout=0.1, span_head_size=4, max_len=max_len, stride=stride
        )
        torch.manual_seed(seed)
        model = build_model(cfg, label_list(types, "BIOES"), tokenizer)
        meta = {"tokenization": "char", "max_len": max_len, "stride": stride}
        folders[name] = save_model(model, root / name, tokenizer, meta)
    return folders


# --------------------------------------------------------------------------- browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell")
ARTIFACTS = Path(
    os.environ.get("NERFLOW_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts")
)
"""Where the browser tests keep screenshots (git-ignored)."""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """The Chromium binary; skip without one, but fail under CI (where it is installed)."""
    path = find_chromium()
    if path is None:
        message = "headless Chromium not found (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)
    return path
