"""Tensor cache of a tokenised, labelled training set.

A cache is a plain dict of lists, tensors, strings and numbers, so it is saved with
``torch.save`` and loaded with ``torch.load(weights_only=True)``:

- ``input_ids``: one ``LongTensor [n]`` per record (no padding, specials included);
- ``labels``: one ``LongTensor [n]`` per record, label ids on labelled tokens and
  ``-100`` on special tokens and on tokens without a label;
- ``offsets``: one ``LongTensor [n, 2]`` per record, character ``[start, end)`` of each
  token in the original text (``(0, 0)`` for specials);
- ``ids``: the record ids;
- ``lost_spans``: ``{reason: count}`` of gold spans that the token labels cannot carry
  (see :mod:`nerflow.alignment`; ``truncated`` counts spans cut by ``max_len``);
- ``meta``: tokenizer fingerprint, labels, scheme, mode, max_len, n_records, n_truncated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nerflow.alignment import REASONS, token_labels_from_spans, tokenize
from nerflow.records import Record
from nerflow.vocab import tokenizer_fingerprint

IGNORE_INDEX = -100
CACHE_FORMAT = 1


def build_cache(
    records: Sequence[Record],
    tokenizer: Any,
    mode: str,
    max_len: int,
    scheme: str,
    labels: Sequence[str],
) -> dict[str, Any]:
    """Tokenise (truncating to ``max_len`` tokens) and label every record (see module doc)."""
    label2id = {label: i for i, label in enumerate(labels)}
    cache: dict[str, Any] = {"input_ids": [], "labels": [], "offsets": [], "ids": []}
    lost: Counter[str] = Counter(dict.fromkeys(REASONS, 0))
    n_truncated = 0
    for record in records:
        tok = tokenize(record.text, tokenizer, mode, max_len)
        token_labels, lost_spans = token_labels_from_spans(tok, record.spans, scheme)
        lost.update(reason for _, reason in lost_spans)
        n_truncated += int(tok.truncated)
        unknown = {tag for tag in token_labels if tag is not None and tag not in label2id}
        if unknown:
            raise ValueError(f"record {record.id!r}: tags {sorted(unknown)} not in the label list")
        ids = [IGNORE_INDEX if tag is None else label2id[tag] for tag in token_labels]
        cache["input_ids"].append(torch.tensor(tok.input_ids, dtype=torch.long))
        cache["labels"].append(torch.tensor(ids, dtype=torch.long))
        cache["offsets"].append(torch.tensor(tok.offsets, dtype=torch.long).reshape(-1, 2))
        cache["ids"].append(record.id)
    cache["lost_spans"] = dict(lost)
    cache["meta"] = {
        "format": CACHE_FORMAT,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "labels": list(labels),
        "scheme": scheme,
        "mode": mode,
        "max_len": int(max_len),
        "n_records": len(cache["ids"]),
        "n_truncated": n_truncated,
    }
    return cache


def save_cache(path: str | Path, cache: dict[str, Any]) -> None:
    """Write a cache with ``torch.save`` (atomically: temporary file, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save(cache, tmp)
    tmp.replace(target)


def load_cache(path: str | Path) -> dict[str, Any]:
    """Load a cache written by :func:`save_cache` (safe ``weights_only`` loading)."""
    cache = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(cache, dict) or cache.get("meta", {}).get("format") != CACHE_FORMAT:
        raise ValueError(f"{path}: not a nerflow cache of format {CACHE_FORMAT}")
    return cache


def check_cache(cache: dict[str, Any], tokenizer: Any, labels: Sequence[str], scheme: str) -> None:
    """Raise ``ValueError`` if the cache was built with another tokenizer, labels or scheme."""
    meta = cache["meta"]
    problems = []
    if meta["tokenizer"] != tokenizer_fingerprint(tokenizer):
        problems.append("tokenizer fingerprint differs")
    if list(meta["labels"]) != list(labels):
        problems.append(f"labels differ ({meta['labels']} vs {list(labels)})")
    if meta["scheme"] != scheme:
        problems.append(f"scheme differs ({meta['scheme']} vs {scheme})")
    if problems:
        raise ValueError("cache does not match the experiment: " + "; ".join(problems))
