"""Transformer emitter: a Hugging Face ``AutoModelForTokenClassification`` (BERT-like).

``encoder: scratch`` builds a fresh BERT, a hub id or a local folder loads a pretrained
one. A saved model folder loads with ``AutoModelForTokenClassification.from_pretrained
(folder)`` -- unless the experiment uses input ``features``: their embeddings
(``emitter_features.safetensors``) are added to the word embeddings by
:class:`TransformerEmitter` only, a plain AutoModel ignores them. The config's
``id2label`` holds the head's export names (:func:`nerflow.models.registry.label_maps`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from nerflow.config.experiment import ExperimentConfig
from nerflow.features.embeddings import FeatureInputs
from nerflow.features.featurizer import Featurizer
from nerflow.models.emitter import Emitter
from nerflow.models.scratch_bert import scratch_bert_config
from nerflow.models.weights import load_weights, save_weights
from nerflow.text.vocab import WEIGHT_FILES, check_encoder_source, encoder_error

EMITTER_FEATURES_CONFIG = "emitter_features.json"
EMITTER_FEATURES_FILE = "emitter_features.safetensors"


class TransformerEmitter(Emitter):
    """A Hugging Face ``*ForTokenClassification`` model used as emission model.

    With ``feature_inputs``, the projected feature embeddings are added to the word
    embeddings (``inputs_embeds``); they are saved next to the transformers files.
    """

    kind: ClassVar[str] = "transformers"
    needed_files: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = (
        ("config.json", ("config.json",)),
        ("weights (model.safetensors or pytorch_model.bin)", WEIGHT_FILES),
    )

    def __init__(self, model: nn.Module, feature_inputs: FeatureInputs | None = None) -> None:
        super().__init__()
        self.model = model
        self.feature_inputs = feature_inputs
        self.feature_proj: nn.Linear | None = None
        if feature_inputs is not None:
            hidden = model.get_input_embeddings().embedding_dim
            self.feature_proj = nn.Linear(feature_inputs.output_dim, hidden)

    @classmethod
    def from_experiment(
        cls,
        exp: ExperimentConfig,
        id2label: dict[int, str],
        label2id: dict[str, int],
        tokenizer: Any,
        featurizer: Featurizer | None,
    ) -> TransformerEmitter:
        """The emitter of ``encoder: scratch`` (a fresh BERT of the ``scratch`` sizes), a
        hub id or a local folder, with an output layer named by ``id2label``."""
        from transformers import AutoConfig, AutoModelForTokenClassification

        encoder, max_len = exp.encoder, int(exp.max_len)
        if encoder == "scratch":
            config = scratch_bert_config(
                exp.scratch, tokenizer, max_len, id2label=id2label, label2id=label2id
            )
            model = AutoModelForTokenClassification.from_config(config)
        else:
            check_encoder_source(encoder, model=True)
            try:
                source = AutoConfig.from_pretrained(encoder)
            except (OSError, ValueError) as error:
                raise encoder_error(encoder, "model config", error) from error
            _check_encoder_labels(encoder, source, list(id2label.values()), list(label2id))
            try:
                model = AutoModelForTokenClassification.from_pretrained(
                    encoder, id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True
                )
            except OSError as error:
                raise encoder_error(encoder, "model", error) from error
            if len(tokenizer) > model.get_input_embeddings().num_embeddings:
                model.resize_token_embeddings(len(tokenizer))
        positions = getattr(model.config, "max_position_embeddings", None)
        if positions is not None and max_len > positions:
            raise ValueError(f"max_len {max_len} exceeds the encoder's {positions} positions")
        return cls(model, FeatureInputs.for_featurizer(featurizer))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **features: torch.Tensor
    ) -> torch.Tensor:
        if self.feature_inputs is None:
            self.refuse_features(features)
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        assert self.feature_proj is not None
        embeds = self.model.get_input_embeddings()(input_ids)
        embeds = embeds + self.feature_proj(self.feature_inputs(**features)).to(embeds.dtype)
        return self.model(inputs_embeds=embeds, attention_mask=attention_mask).logits

    def head_parameters(self) -> list[nn.Parameter]:
        head = getattr(self.model, "classifier", None)
        if not isinstance(head, nn.Module):
            head = self.model.get_output_embeddings()
        if head is None:
            raise ValueError(f"{type(self.model).__name__}: cannot find the classifier layer")
        return list(head.parameters())

    def save(self, out_dir: Path) -> None:
        self.model.save_pretrained(str(out_dir))
        config, weights = out_dir / EMITTER_FEATURES_CONFIG, out_dir / EMITTER_FEATURES_FILE
        if self.feature_inputs is None:
            config.unlink(missing_ok=True)
            weights.unlink(missing_ok=True)
            return
        assert self.feature_proj is not None
        state = {f"feature_proj.{k}": v for k, v in self.feature_proj.state_dict().items()}
        for key, value in self.feature_inputs.state_dict().items():
            state[f"feature_inputs.{key}"] = value
        save_weights(state, weights)
        config.write_text(json.dumps(self.feature_inputs.sizes, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, model_dir: Path) -> TransformerEmitter:
        from transformers import AutoModelForTokenClassification

        model = AutoModelForTokenClassification.from_pretrained(str(model_dir))
        config = model_dir / EMITTER_FEATURES_CONFIG
        if not config.exists():
            return cls(model)
        emitter = cls(model, FeatureInputs(**json.loads(config.read_text(encoding="utf-8"))))
        state = load_weights(model_dir / EMITTER_FEATURES_FILE)
        missing, unexpected = emitter.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("model.") for k in missing):
            raise ValueError(f"{model_dir}: feature weights do not match ({missing}, {unexpected})")
        return emitter


def _check_encoder_labels(
    encoder: str, config: Any, exported: list[str], outputs: Sequence[str]
) -> None:
    """Refuse a token-classification checkpoint trained on other labels as ``encoder``:
    with ``ignore_mismatched_sizes`` its head would be kept under other names (same count)
    or silently dropped. Encoders without such a head (MLM, base models) and heads that
    never got label names (transformers' ``LABEL_0``, ``LABEL_1``...) pass."""
    architectures = getattr(config, "architectures", None) or []
    if not any(str(name).endswith("ForTokenClassification") for name in architectures):
        return
    saved = [str(config.id2label.get(i)) for i in range(len(config.id2label))]
    if saved in (exported, list(outputs)) or saved == [f"LABEL_{i}" for i in range(len(saved))]:
        return
    have, want = _output_types(saved), _output_types(exported)
    if have != want:
        difference = (
            f"types it lacks: {preview(sorted(want - have))}; "
            f"types it has that the experiment does not: {preview(sorted(have - want))}"
        )
    else:
        difference = "same types, other tags or head (tagging scheme or head differs)"
    raise ValueError(
        f"{encoder}: a token-classification model trained on other labels ({len(saved)} "
        f"outputs, the experiment needs {len(exported)}; {difference}). To fine-tune its "
        f"encoder on these labels, save it without the head (AutoModel.from_pretrained"
        f"(folder).save_pretrained(new_folder)) and set encoder: new_folder"
    )


def _output_types(names: Sequence[str]) -> set[str]:
    """Entity types behind output names: tags (``B-x``) or span parts (``x:q0``)."""
    types = set()
    for name in names:
        if ":" in name and name.rsplit(":", 1)[1][:1] in ("q", "k"):
            types.add(name.rsplit(":", 1)[0])
        elif "-" in name:
            types.add(name.split("-", 1)[1])
    return types


def preview(names: Sequence[Any], n: int = 8) -> str:
    """``names`` for an error message, cut after ``n`` entries."""
    shown = ", ".join(repr(name) for name in names[:n])
    return f"[{shown}{', ...' if len(names) > n else ''}] ({len(names)})"
