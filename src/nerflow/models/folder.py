"""The model folder: saving a tagger with everything prediction needs, and loading it.

A folder holds the emitter's files (a transformers model, or the BiLSTM's
``nerflow_bilstm.json`` + ``bilstm.safetensors``), the tokenizer files, the head's files
(``crf.safetensors`` for the CRF), the feature assets of experiments with features, and
``nerflow_head.json`` (:class:`~nerflow.models.meta.ModelMeta`: emitter kind, head and its
own settings, scheme, labels, tokenisation and windows, features, and what training
found and summed up). For tag
heads a transformers config's ``id2label`` holds pipeline-compatible names
(:func:`~nerflow.models.head.pipeline_label`: ``S-X`` -> ``B-X``, ``E-X`` -> ``I-X``)
so that ``transformers.pipeline("token-classification", aggregation_strategy="simple")``
groups BIOS/BIOES outputs into the same entities as BIO; ``label2id`` maps the real tags
to their ids and ``nerflow_head.json`` keeps the real label list (what
:func:`load_model` uses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nerflow.atomic import atomic_model_folder
from nerflow.features.featurizer import Featurizer
from nerflow.models.emitter import Emitter
from nerflow.models.meta import HEAD_FILE, ModelMeta, read_model_meta, write_model_meta
from nerflow.models.registry import EMITTERS, HEADS, head_class, label_maps
from nerflow.models.tagger import TaggerModel
from nerflow.models.transformer import preview
from nerflow.tensors import resolve_device

EXTRA_META = ("tokenization", "max_len", "stride", "train_nesting", "training")
"""The :class:`~nerflow.models.meta.ModelMeta` fields that :func:`save_model` takes from its
caller (the others come from the model)."""


def save_model(
    model: TaggerModel, out_dir: str | Path, tokenizer: Any, extra_meta: dict | None = None
) -> Path:
    """Save the emitter, tokenizer files, head files, feature assets and head meta.

    A transformers emitter's config gets the maps of :func:`label_maps` (``id2label`` with
    pipeline names for softmax/CRF heads); the real labels are ``meta["labels"]``.

    ``extra_meta`` must hold ``tokenization`` and ``max_len`` (what prediction needs) and
    may hold ``stride``, ``train_nesting`` and ``training`` (the training summary): the
    fields of :class:`~nerflow.models.meta.ModelMeta` that the model does not know.

    The folder is written beside ``out_dir`` under a temporary name and renamed into place
    (:func:`nerflow.atomic.atomic_model_folder`): a full disk or an unwritable folder raises
    :class:`~nerflow.atomic.WriteError` naming ``out_dir`` and leaves no half-written
    folder there (a previous model folder stays as it was).
    """
    meta = dict(extra_meta or {})
    missing = [key for key in ("tokenization", "max_len") if key not in meta]
    if missing:
        raise ValueError(f"extra_meta lacks {missing}")
    unknown = sorted(set(meta) - set(EXTRA_META))
    if unknown:
        raise ValueError(f"extra_meta keys {unknown} are not model meta; known: {EXTRA_META}")
    out = Path(out_dir)
    with atomic_model_folder(out) as folder:
        _write_model_folder(model, folder, tokenizer, meta)
    return out


def _write_model_folder(model: TaggerModel, out: Path, tokenizer: Any, extra: dict) -> None:
    """The files of :func:`save_model`, written into the (new, empty) folder ``out``."""
    head = model.head
    config = _emitter_config(model.emitter)
    if config is not None:  # also renames a model loaded from a folder of the old naming
        config.id2label, config.label2id = label_maps(head.outputs, head.name)
    model.emitter.save(out)
    tokenizer.save_pretrained(str(out))
    head.save(out)
    featurizer = model.featurizer
    if featurizer is not None:
        featurizer.save(out)
    meta = ModelMeta(
        emitter=model.emitter.kind,
        head=head.name,
        scheme=model.scheme,
        labels=model.labels,
        head_settings=head.settings(),
        features=featurizer.describe() if featurizer is not None else None,
        **extra,
    )
    write_model_meta(out, meta)


def load_model(
    model_dir: str | Path, device: str | torch.device | None = "auto"
) -> tuple[TaggerModel, Any, ModelMeta]:
    """Load a folder written by :func:`save_model`: ``(model in eval mode, tokenizer, meta)``.

    Feature assets saved with the model are loaded into ``model.featurizer``. The labels
    come from ``nerflow_head.json``; a transformers config's ``id2label`` must hold their
    pipeline names (:func:`label_maps`) or, in folders saved before that naming, the raw
    outputs, else ``ValueError``.
    """
    from nerflow.text.vocab import load_tokenizer

    directory = Path(model_dir)
    if not (directory / HEAD_FILE).is_file():
        state = "holds no" if directory.is_dir() else "does not exist, so no"
        raise FileNotFoundError(
            f"{directory}: not a nerflow model folder ({state} {HEAD_FILE}); give a folder "
            f"written by training, such as results/RUN/model"
        )
    meta = read_model_meta(directory)
    kind = meta.emitter
    if kind not in EMITTERS:
        raise ValueError(f"{directory}: unknown emitter {kind!r}; known: {sorted(EMITTERS)}")
    missing = _missing_model_files(directory, kind, meta)
    if missing:
        present = sorted(path.name for path in directory.iterdir())
        raise FileNotFoundError(
            f"{directory}: incomplete model folder, it lacks {', '.join(missing)} (it holds: "
            f"{', '.join(present)}); copy the whole folder written by training, or retrain"
        )
    featurizer = None
    if meta.features:
        featurizer = Featurizer.load(directory)
        if featurizer.fingerprint() != meta.features["fingerprint"]:
            raise ValueError(f"{directory}: feature assets differ from those the model saved")
    try:
        emitter = EMITTERS[kind].load(directory)
    except RuntimeError as error:  # load_state_dict: size mismatch, missing keys
        raise ValueError(
            f"{directory}: the {kind} weights do not fit its config ({_first_line(error)})"
        ) from error
    try:
        head = head_class(meta.head).from_saved(meta.labels, meta.scheme, meta.head_settings)
        model = TaggerModel(emitter, meta.labels, meta.scheme, head, featurizer)
    except ValueError as error:
        raise ValueError(f"{directory}: {HEAD_FILE}: {error}") from None
    head = model.head
    try:
        head.load(directory)
    except RuntimeError as error:
        raise ValueError(
            f"{directory}: {', '.join(head.files)} does not fit the {len(model.labels)} labels "
            f"of {HEAD_FILE} (trained on another label set? {_first_line(error)})"
        ) from error
    config = _emitter_config(emitter)
    if config is not None:
        saved = [config.id2label.get(i) for i in range(len(config.id2label))]
        exported = list(label_maps(head.outputs, head.name)[0].values())
        if saved not in (exported, head.outputs):  # current naming, or the older raw one
            raise ValueError(
                f"{directory}: config id2label {preview(saved)} matches neither the pipeline "
                f"names {preview(exported)} nor the raw outputs "
                f"{preview(head.outputs)} of the head in {HEAD_FILE}"
            )
    model.to(resolve_device(device))
    model.eval()
    return model, load_tokenizer(directory), meta


def _missing_model_files(directory: Path, kind: str, meta: ModelMeta) -> list[str]:
    """Files that a model folder of emitter ``kind`` with head ``meta`` needs but lacks."""
    from nerflow.text.vocab import TOKENIZER_FILES

    present = {path.name for path in directory.iterdir()}
    needed = [
        ("tokenizer files (tokenizer.json or vocab.txt)", TOKENIZER_FILES),
        *EMITTERS[kind].needed_files,
    ]
    head = HEADS.get(meta.head)
    if head is not None:
        needed += [(name, (name,)) for name in head.files]
    return [label for label, names in needed if not present & set(names)]


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _emitter_config(emitter: Emitter) -> Any:
    """The transformers config of an emitter (None for emitters that are no AutoModel)."""
    return getattr(getattr(emitter, "model", None), "config", None)
