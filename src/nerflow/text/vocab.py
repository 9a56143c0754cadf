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

from nerflow.errors import UserError

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
    """Load a fast tokenizer from a saved folder (or a hub id already in the local cache).

    A folder without tokenizer files, a path that does not exist and a hub id that cannot
    be fetched raise :class:`EncoderError` with one line saying what is missing and what
    to do instead."""
    from transformers import AutoTokenizer

    name = str(encoder_or_dir)
    check_encoder_source(name, tokenizer=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise encoder_error(name, "tokenizer", error) from error
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{encoder_or_dir}: a fast tokenizer (offset mappings) is required")
    return tokenizer


TOKENIZER_FILES: tuple[str, ...] = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
"""Files of which a tokenizer folder holds at least one (its vocabulary)."""
WEIGHT_FILES: tuple[str, ...] = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""Files of which a transformers model folder holds at least one (its weights)."""
INSTEAD = (
    "give a local folder written by save_pretrained (encoder: path/to/folder), or run the "
    "offline config (--configfile config/offline.yaml)"
)
"""What to do when an encoder cannot be loaded (the end of :class:`EncoderError`)."""


class EncoderError(OSError, UserError):
    """An encoder (hub id or local folder) cannot be loaded; the message is one line that
    says what is missing or unreachable and what to do instead."""


def is_local_path(name: str | Path) -> bool:
    """Whether an encoder name means a local folder rather than a hub id (``org/name``):
    it exists, or it starts with ``/``, ``.`` or ``~``, or has more than one ``/``."""
    text = str(name)
    return (
        Path(text).expanduser().exists()
        or text.startswith(("/", ".", "~"))
        or text.count("/") > 1
        or "\\" in text
    )


def check_encoder_source(name: str | Path, model: bool = False, tokenizer: bool = False) -> None:
    """Raise :class:`EncoderError` if ``name`` is a local path that is not a folder, or a
    folder lacking a model's ``config.json`` and weights (``model``) or tokenizer files
    (``tokenizer``). Hub ids pass (they are checked when fetched)."""
    if not is_local_path(name):
        return
    folder = Path(str(name)).expanduser()
    if not folder.is_dir():
        state = "is a file, not a folder" if folder.exists() else "does not exist"
        raise EncoderError(f"encoder folder {name} {state}; {INSTEAD}")
    present = sorted(path.name for path in folder.iterdir())
    files = set(present)
    missing = []
    if model and "config.json" not in files:
        missing.append("config.json")
    if model and not set(WEIGHT_FILES) & files:
        missing.append(f"weights ({' or '.join(WEIGHT_FILES[::2])})")
    if tokenizer and not set(TOKENIZER_FILES) & files:
        missing.append(f"tokenizer files ({' or '.join(TOKENIZER_FILES[:2])})")
    elif tokenizer and not {"tokenizer.json", "tokenizer_config.json", "config.json"} & files:
        missing.append("tokenizer_config.json (which tokenizer its vocabulary is for)")
    if missing:
        raise EncoderError(
            f"{name}: the encoder folder has no {' and no '.join(missing)} (it holds: "
            f"{_listing(present)}); copy the complete folder written by save_pretrained"
        )


def encoder_error(name: str | Path, what: str, error: BaseException) -> EncoderError:
    """One-line :class:`EncoderError` for a failed ``from_pretrained`` of ``name``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    cause = lines[0] if lines else type(error).__name__
    if is_local_path(name):
        present = sorted(p.name for p in Path(str(name)).expanduser().iterdir())
        return EncoderError(
            f"{name}: cannot load the {what} from this folder ({cause}; it holds: "
            f"{_listing(present)}); copy the complete folder written by save_pretrained"
        )
    return EncoderError(
        f"cannot load the {what} of {name!r}: it is not a local folder and the Hugging Face hub "
        f"could not provide it ({cause}); {INSTEAD}"
    )


def _listing(names: list[str], n: int = 10) -> str:
    shown = ", ".join(names[:n]) + (", ..." if len(names) > n else "")
    return shown or "nothing"


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
