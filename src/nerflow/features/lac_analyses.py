"""LAC's analyses (:mod:`nerflow.features.lac_analyser`) as features use them: looked up by text,
stored once per split by the ``analyse`` stage, turned into feature tensors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nerflow.atomic import save_torch
from nerflow.data.cluener import read_records
from nerflow.features.lac_analyser import (
    ANALYSER_SHA256,
    LAC_TAGS,
    Analyser,
    Analysis,
    empty_analysis,
    text_key,
)

if TYPE_CHECKING:
    import torch

ANALYSES_FORMAT = 2
"""Format of the analyse stage's files (2: with LAC's hidden layer)."""
MEMO_TEXTS = 4096
"""Analyses an :class:`Analyses` remembers of the texts it analysed itself."""


class Analyses:
    """The analyses a featurizer uses, by text: the given ones (:meth:`add`, e.g. the
    analyse stage's file), else the analyser's (loaded when first needed), computed in
    batches and remembered for up to :data:`MEMO_TEXTS` texts (a training run analyses its
    dev texts once)."""

    def __init__(self) -> None:
        self.known: dict[str, Analysis] = {}
        self.memo: dict[str, Analysis] = {}
        self.analyser: Analyser | None = None

    def add(self, analyses: Mapping[str, Analysis] | str | Path) -> None:
        """Use ``analyses`` (by :func:`text_key`, or a file of :func:`save_analyses`)."""
        self.known.update(
            load_analyses(analyses) if isinstance(analyses, (str, Path)) else analyses
        )

    def get(self, texts: Sequence[str]) -> list[Analysis]:
        """The analysis of each text."""
        keys = [text_key(text) for text in texts]
        missing = {
            key: text
            for key, text in zip(keys, texts, strict=True)
            if key not in self.known and key not in self.memo
        }
        computed: dict[str, Analysis] = {}
        if missing:
            if self.analyser is None:
                self.analyser = Analyser.load()
            analysed = self.analyser.analyse(list(missing.values()))
            computed = dict(zip(missing, analysed, strict=True))
            if len(self.memo) + len(computed) > MEMO_TEXTS:
                self.memo.clear()
            if len(computed) <= MEMO_TEXTS:
                self.memo.update(computed)
        return [
            self.known[key] if key in self.known else computed.get(key) or self.memo[key]
            for key in keys
        ]


def analyse_file(in_path: str | Path, out_path: str | Path, threads: int | None = None) -> int:
    """Analyse the records of a JSON-lines file into ``out_path`` (:func:`save_analyses`)
    with the installed analyser (``threads`` for its encoder); the number of records."""
    records = read_records(in_path)
    texts = [record.text for record in records]
    analyses = Analyser.load(threads).analyse(texts)
    save_analyses(out_path, [record.id for record in records], texts, analyses)
    return len(records)


def save_analyses(
    path: str | Path, ids: Sequence[int | str], texts: Sequence[str], analyses: Sequence[Analysis]
) -> None:
    """Write the analyses of records (their ``ids`` and ``texts``) as one ``torch.save``
    dict: ``format``, ``analyser`` (:data:`ANALYSER_SHA256`), ``tags``, ``ids``, ``keys``
    (:func:`text_key`), ``lengths``, and the concatenated ``char_ids``, ``scores`` and
    ``hidden``."""
    import torch

    empty = empty_analysis()
    save_torch(
        {
            "format": ANALYSES_FORMAT,
            "analyser": ANALYSER_SHA256,
            "tags": list(LAC_TAGS),
            "ids": list(ids),
            "keys": [text_key(text) for text in texts],
            "lengths": torch.tensor([len(a.ids) for a in analyses], dtype=torch.long),
            "char_ids": joined([a.ids for a in analyses], empty.ids),
            "scores": joined([a.scores for a in analyses], empty.scores),
            "hidden": joined([a.hidden for a in analyses], empty.hidden),
        },
        path,
    )


def joined(arrays: Sequence[np.ndarray], empty: np.ndarray) -> torch.Tensor:
    """One tensor of the concatenated per-text arrays (``empty``'s shape when none)."""
    import torch

    return torch.from_numpy(np.concatenate([empty, *arrays]))


def load_analyses(path: str | Path) -> dict[str, Analysis]:
    """``{text_key: Analysis}`` of a file of :func:`save_analyses`; ``ValueError`` when it
    is not one, or was made by another analyser (rerun the analyse stage)."""
    import torch  # the analyse stage's files: the workflow's, which has torch

    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or data.get("format") != ANALYSES_FORMAT:
        raise ValueError(f"{path}: not a nerflow analysis file of format {ANALYSES_FORMAT}")
    if data["analyser"] != ANALYSER_SHA256 or data["tags"] != list(LAC_TAGS):
        raise ValueError(f"{path}: made by another analyser than this nerflow's; rebuild it")
    splits = data["lengths"].cumsum(0)[:-1].tolist()
    ids, scores, hidden = (
        np.split(data[name].numpy(), splits) for name in ("char_ids", "scores", "hidden")
    )
    return {
        key: Analysis(*parts) for key, *parts in zip(data["keys"], ids, scores, hidden, strict=True)
    }
