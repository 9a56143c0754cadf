"""BiLSTM emitter (``encoder: bilstm``): character embeddings [+ feature embeddings] ->
bidirectional LSTM -> linear classifier.

It is NOT a transformers model: its weights are ``bilstm.safetensors`` and its sizes
``nerflow_bilstm.json``; load it with :func:`nerflow.models.folder.load_model` only. Its
sizes are an experiment's ``bilstm`` block (:class:`nerflow.config.experiment.BiLSTMConfig`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from nerflow.config.experiment import BiLSTMConfig
from nerflow.features.embeddings import (
    FEATURE_SIZE_KEYS,
    FeatureInputs,
    drop_tokens,
    feature_sizes,
)
from nerflow.features.featurizer import Featurizer
from nerflow.features.spec import CHAR_VECTOR_SOURCES
from nerflow.models.emitter import Emitter
from nerflow.models.weights import load_weights, save_weights
from nerflow.nn.rnn import bidirectional

BILSTM_CONFIG_FILE = "nerflow_bilstm.json"
BILSTM_WEIGHTS_FILE = "bilstm.safetensors"


class BiLSTMEmitter(Emitter):
    """Token (character) embeddings [+ feature embeddings] -> BiLSTM -> linear classifier.

    ``config``: ``vocab_size``, ``pad_id``, ``num_labels``, ``embedding_dim``, ``hidden``
    (per direction), ``layers``, ``dropout``, ``embedding_dropout``, ``token_dropout``
    (with ``unk_id`` and the ``special_ids`` it never drops) and the
    :class:`FeatureInputs` sizes (:data:`FEATURE_SIZE_KEYS`; zeros without features). The
    LSTM is bidirectional per layer (one forward and one backward ``nn.LSTM``); the
    attention mask must be right-padded, and padding never reaches the state of a real
    position in either direction.
    """

    kind: ClassVar[str] = "bilstm"
    plain_load: ClassVar[tuple[str, str] | None] = (
        "nerflow",
        "nothing: this is not a transformers model (weights `bilstm.safetensors`, sizes "
        "`nerflow_bilstm.json`). Only `nerflow predict` and `nerflow.models.folder.load_model` "
        "load it.",
    )
    needed_files: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = tuple(
        (name, (name,)) for name in (BILSTM_CONFIG_FILE, BILSTM_WEIGHTS_FILE)
    )
    CONFIG_KEYS: ClassVar[tuple[str, ...]] = (
        "vocab_size",
        "pad_id",
        "num_labels",
        "embedding_dim",
        "hidden",
        "layers",
        "dropout",
        "embedding_dropout",
        "token_dropout",
        "unk_id",
        "special_ids",
        *FEATURE_SIZE_KEYS,
    )
    OPTIONAL: ClassVar[dict[str, Any]] = {
        **dict.fromkeys(FEATURE_SIZE_KEYS, 0),  # a feature newer than the folder: off
        "token_dropout": 0.0,
        "unk_id": 1,
        "special_ids": [],
    }
    """Keys a folder saved before they existed lacks, with the value that means "as then"."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        config = {**self.OPTIONAL, **config}
        missing = [key for key in self.CONFIG_KEYS if key not in config]
        if missing:
            raise ValueError(f"bilstm config lacks {missing}")
        self.config = {key: config[key] for key in self.CONFIG_KEYS}
        cfg = self.config
        self.embeddings = nn.Embedding(cfg["vocab_size"], cfg["embedding_dim"], cfg["pad_id"])
        inputs = FeatureInputs(**{key: cfg[key] for key in FEATURE_SIZE_KEYS})
        self.feature_inputs = inputs if inputs.names else None
        in_dim = cfg["embedding_dim"] + (inputs.output_dim if inputs.names else 0)
        self.embedding_dropout = nn.Dropout(float(cfg["embedding_dropout"]))
        hidden, layers = int(cfg["hidden"]), int(cfg["layers"])
        sizes = [in_dim] + [2 * hidden] * (layers - 1)
        self.forward_lstms = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)
        self.backward_lstms = nn.ModuleList(nn.LSTM(n, hidden, batch_first=True) for n in sizes)
        self.dropout = nn.Dropout(float(cfg["dropout"]))
        self.classifier = nn.Linear(2 * hidden, cfg["num_labels"])
        self.register_buffer(
            "special_ids",
            torch.tensor(list(cfg["special_ids"]), dtype=torch.long),
            persistent=False,
        )

    def _drop_tokens(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, features: dict
    ) -> tuple[torch.Tensor, dict]:
        """Training-time token dropout: characters -> unknown (and what the features say)."""
        rate = float(self.config["token_dropout"])
        if not self.training or rate <= 0:
            return input_ids, features
        drop = torch.rand(input_ids.shape, device=input_ids.device) < rate
        drop &= attention_mask.bool() & ~torch.isin(input_ids, self.special_ids)
        input_ids = input_ids.masked_fill(drop, int(self.config["unk_id"]))
        return input_ids, drop_tokens(features, drop)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> torch.Tensor:
        input_ids, features = self._drop_tokens(input_ids, attention_mask, features)
        x = self.embeddings(input_ids)
        if self.feature_inputs is not None:
            x = torch.cat([x, self.feature_inputs(**features).to(x.dtype)], dim=-1)
        else:
            self.refuse_features(features)
        x = self.embedding_dropout(x)
        lengths = attention_mask.sum(dim=1)
        for layer, (forward_lstm, backward_lstm) in enumerate(
            zip(self.forward_lstms, self.backward_lstms, strict=True)
        ):
            if layer > 0:
                x = self.dropout(x)
            x = bidirectional(x, lengths, forward_lstm, backward_lstm)
        return self.classifier(self.dropout(x))

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.classifier.parameters())

    def save(self, out_dir: Path) -> None:
        save_weights(self.state_dict(), out_dir / BILSTM_WEIGHTS_FILE)
        (out_dir / BILSTM_CONFIG_FILE).write_text(
            json.dumps(self.config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )

    def start_from_vectors(self, vectors: torch.Tensor, found: torch.Tensor) -> int:
        """Copy pretrained ``vectors [vocab_size, embedding_dim]`` into the rows ``found``
        marks (the padding row excepted), rescaled to the unit spread of a fresh
        ``nn.Embedding``; other rows keep their random start. Returns the rows copied."""
        weight = self.embeddings.weight
        if vectors.shape != weight.shape:
            raise ValueError(
                f"pretrained character vectors are {list(vectors.shape)}; the embedding is"
                f" {list(weight.shape)} (bilstm.embedding_dim must match the vectors' width)"
            )
        rows = found.clone()
        rows[int(self.config["pad_id"])] = False
        if not bool(rows.any()):
            return 0
        picked = vectors[rows]
        with torch.no_grad():
            weight[rows] = (picked / picked.std()).to(weight.dtype)
        return int(rows.sum())

    @classmethod
    def load(cls, model_dir: Path) -> BiLSTMEmitter:
        config = json.loads((model_dir / BILSTM_CONFIG_FILE).read_text(encoding="utf-8"))
        emitter = cls(config)
        emitter.load_state_dict(load_weights(model_dir / BILSTM_WEIGHTS_FILE))
        return emitter


def packaged_char_vectors(source: str, tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``source`` vectors of every token of ``tokenizer``, in id order, and whether
    each token has one (see :meth:`BiLSTMEmitter.start_from_vectors`); the sources are
    the features' (:data:`nerflow.features.spec.CHAR_VECTOR_SOURCES`)."""
    if source not in CHAR_VECTOR_SOURCES:
        known = list(CHAR_VECTOR_SOURCES)
        raise ValueError(f"bilstm.char_vectors {source!r} is not one of {known}")
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return CHAR_VECTOR_SOURCES[source](tokens)


def bilstm_config(
    sizes: BiLSTMConfig, num_labels: int, tokenizer: Any, featurizer: Featurizer | None
) -> dict[str, Any]:
    """The :class:`BiLSTMEmitter` config of an experiment's ``bilstm`` block and features
    (``embedding_dropout`` None: ``dropout``)."""
    embedding_dropout = sizes.embedding_dropout
    if embedding_dropout is None:
        embedding_dropout = sizes.dropout
    return {
        "vocab_size": len(tokenizer),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "num_labels": int(num_labels),
        "embedding_dim": int(sizes.embedding_dim),
        "hidden": int(sizes.hidden),
        "layers": int(sizes.layers),
        "dropout": float(sizes.dropout),
        "embedding_dropout": float(embedding_dropout),
        "token_dropout": float(sizes.token_dropout),
        "unk_id": int(tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 1),
        "special_ids": sorted(int(i) for i in tokenizer.all_special_ids),
        **feature_sizes(featurizer),
    }
