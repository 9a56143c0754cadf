"""A saved fast tokenizer read with the ``tokenizers`` library alone: no transformers, no
torch (which transformers imports whenever it is installed), for exported model folders
run on onnxruntime (:mod:`nerflow.inference.onnx_predictor`).

:class:`TokenizerFile` answers the calls :mod:`nerflow.text.tokenization` makes of a
transformers fast tokenizer (a batch of texts or of pre-split words, ids, offsets and word
ids) with the same ids and offsets: transformers' fast tokenizers are this library's
``Tokenizer`` with its ``tokenizer.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOKENIZER_JSON = "tokenizer.json"
CONFIG_JSON = "tokenizer_config.json"


class Encoded(dict):
    """A batch's ``input_ids`` and ``offset_mapping`` lists, and :meth:`word_ids`."""

    def __init__(self, encodings: Sequence[Any]) -> None:
        super().__init__(
            input_ids=[encoding.ids for encoding in encodings],
            offset_mapping=[encoding.offsets for encoding in encodings],
        )
        self._encodings = encodings

    def word_ids(self, index: int) -> list[int | None]:
        return self._encodings[index].word_ids


class TokenizerFile:
    """``tokenizer.json`` of a folder (its stored truncation and padding switched off, as
    transformers does per call) and the folder's padding id."""

    def __init__(self, folder: str | Path) -> None:
        from tokenizers import Tokenizer

        directory = Path(folder)
        path = directory / TOKENIZER_JSON
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: no {TOKENIZER_JSON}")
        self.backend = Tokenizer.from_file(str(path))
        self.backend.no_truncation()
        self.backend.no_padding()
        self.pad_token_id = self._pad_id(directory)

    def _pad_id(self, directory: Path) -> int | None:
        pad_token: Any = "[PAD]"
        config = directory / CONFIG_JSON
        if config.is_file():
            pad_token = json.loads(config.read_text(encoding="utf-8")).get("pad_token", pad_token)
        if isinstance(pad_token, dict):
            pad_token = pad_token.get("content")
        return self.backend.token_to_id(pad_token) if isinstance(pad_token, str) else None

    def __call__(
        self,
        texts: Sequence[str] | Sequence[Sequence[str]],
        *,
        add_special_tokens: bool = True,
        is_split_into_words: bool = False,
        **_: Any,
    ) -> Encoded:
        """Encode a batch (texts, or lists of words with ``is_split_into_words``)."""
        encodings = self.backend.encode_batch(
            list(texts), is_pretokenized=is_split_into_words, add_special_tokens=add_special_tokens
        )
        return Encoded(encodings)
