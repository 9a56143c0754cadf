"""Shared fixtures: a tiny BERT-style WordPiece vocabulary saved as a tokenizer folder."""

from __future__ import annotations

from pathlib import Path

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
