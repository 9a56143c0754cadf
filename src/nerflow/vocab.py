"""Character vocabularies and tokenizer folders for encoders trained from scratch.

A from-scratch encoder needs a tokenizer that ``AutoTokenizer.from_pretrained`` can load,
so that a saved model folder is self-contained. :func:`save_char_tokenizer` writes a
BERT WordPiece tokenizer whose vocabulary is one entry per character (plus the usual
special tokens), cased, with CJK characters split on their own.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def build_char_vocab(texts: Iterable[str], min_freq: int = 1) -> list[str]:
    """Special tokens, then every non-whitespace character seen ``min_freq`` times or more.

    Characters are ordered by frequency (descending), ties by code point, so the vocabulary
    is deterministic for a given corpus.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(char for char in text if not char.isspace())
    chars = sorted(
        (
            char
            for char, count in counts.items()
            if count >= min_freq and char not in SPECIAL_TOKENS
        ),
        key=lambda char: (-counts[char], ord(char)),
    )
    return list(SPECIAL_TOKENS) + chars


def save_char_tokenizer(vocab: list[str], out_dir: str | Path):
    """Write ``vocab.txt`` and a cased ``BertTokenizerFast`` into ``out_dir``; return it.

    The vocabulary is passed as ``vocab=<path>``: transformers 5 silently ignores
    ``vocab_file=`` and would map everything to ``[UNK]``.
    """
    from transformers import BertTokenizerFast

    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise ValueError(f"vocabulary lacks special tokens {missing}")
    if len(set(vocab)) != len(vocab):
        raise ValueError("vocabulary has duplicate entries")
    if any(not token or any(char.isspace() for char in token) for token in vocab):
        raise ValueError("vocabulary entries must be non-empty and free of whitespace")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab_path = out / "vocab.txt"
    vocab_path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab=str(vocab_path), do_lower_case=False, tokenize_chinese_chars=True
    )
    if tokenizer.convert_tokens_to_ids(vocab[-1]) != len(vocab) - 1:
        raise RuntimeError("tokenizer did not pick up the vocabulary file")
    tokenizer.save_pretrained(str(out))
    return tokenizer


def load_tokenizer(encoder_or_dir: str | Path):
    """Load a fast tokenizer from a saved folder (or a hub id already in the local cache)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(encoder_or_dir))
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{encoder_or_dir}: a fast tokenizer (offset mappings) is required")
    return tokenizer


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's full serialisation (vocabulary, normaliser, pre-tokeniser).

    This is the content of the ``tokenizer.json`` the tokenizer would save, so two
    tokenizers with the same fingerprint split and number any text identically.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        payload = backend.to_str()
    else:  # slow tokenizer: vocabulary and class are what we can observe
        vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
        payload = type(tokenizer).__name__ + "\n" + "\n".join(token for token, _ in vocab)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
