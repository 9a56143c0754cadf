"""Prediction with classifier folders: class probabilities of texts, the workflow's
prediction files and ``nerflow predict``'s output lines (several folders: their
probabilities averaged)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nerflow.classification.examples import Example
from nerflow.classification.folder import ClassifierFolderError, ClassifierMeta, read_meta
from nerflow.classification.linear import LinearModel
from nerflow.data.user_texts import InputText
from nerflow.inference.settings import PREDICT_BATCH_SIZE
from nerflow.jsonio import write_json_lines

CHUNK = 1024
"""Texts predicted at a time when streaming."""


class Classifier:
    """A loaded classifier folder: :meth:`probabilities` of texts, ``[n, len(labels)]``."""

    def __init__(self, meta: ClassifierMeta, model: Any, tokenizer: Any = None) -> None:
        self.meta, self.model, self.tokenizer = meta, model, tokenizer
        self.labels = list(meta.labels)
        self.device: Any = None
        self.max_len = int(meta.settings.get("max_len", 0))
        self.stride = int(meta.settings.get("stride", 0))

    def probabilities(
        self, texts: Sequence[str], batch_size: int = PREDICT_BATCH_SIZE
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)))
        if isinstance(self.model, LinearModel):
            return self.model.probabilities(texts)
        import torch

        from nerflow.classification.neural import encode_texts, text_scores

        s = self.meta.settings
        encoded = encode_texts(
            texts,
            self.tokenizer,
            self.model.featurizer,
            s["tokenization"],
            self.max_len,
            self.stride,
        )
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        scores = text_scores(self.model, encoded, pad_id, batch_size, self.device)
        return torch.softmax(scores, dim=1).numpy().astype(np.float64)


def load_classifier(
    model_dir: str | Path,
    device: Any = "auto",
    max_len: int | None = None,
    stride: int | None = None,
) -> Classifier:
    """Load a folder written by training (linear or neural)."""
    folder = Path(model_dir)
    meta = read_meta(folder)
    if meta.kind == "linear":
        return Classifier(meta, LinearModel.load(folder))
    from nerflow.classification.neural import PooledClassifier
    from nerflow.classification.sequence import SequenceClassifier
    from nerflow.features.featurizer import SPEC_FILE, Featurizer
    from nerflow.models.registry import EMITTERS
    from nerflow.tensors import resolve_device
    from nerflow.text.vocab import load_tokenizer

    if meta.emitter == SequenceClassifier.kind:
        model: Any = SequenceClassifier.load(folder)
    elif meta.emitter in EMITTERS:
        featurizer = Featurizer.load(folder) if (folder / SPEC_FILE).is_file() else None
        emitter = EMITTERS[meta.emitter].load(folder)
        model = PooledClassifier(emitter, meta.labels, meta.settings["pooling"], featurizer)
    else:
        raise ClassifierFolderError(f"{folder}: unknown emitter {meta.emitter!r}")
    classifier = Classifier(meta, model, load_tokenizer(folder))
    classifier.device = resolve_device(device)
    model.to(classifier.device).eval()
    classifier.max_len = int(max_len or classifier.max_len)
    classifier.stride = int(stride if stride is not None else classifier.stride)
    return classifier


def ensemble_probabilities(
    classifiers: Sequence[Classifier], texts: Sequence[str], batch_size: int
) -> np.ndarray:
    """The mean of the members' probabilities (members must share their labels)."""
    return np.mean([c.probabilities(texts, batch_size) for c in classifiers], axis=0)


def check_members(classifiers: Sequence[Classifier], names: Sequence[Any]) -> None:
    for classifier, name in zip(classifiers[1:], names[1:], strict=True):
        if classifier.labels != classifiers[0].labels:
            raise ClassifierFolderError(
                f"{name}: labels {classifier.labels} differ from {names[0]}'s "
                f"{classifiers[0].labels}"
            )


def predicted(labels: Sequence[str], probabilities: np.ndarray) -> Iterator[dict[str, Any]]:
    """``{"label", "probabilities"}`` per row (probabilities rounded to 6 digits)."""
    for row in probabilities:
        yield {
            "label": labels[int(np.argmax(row))],
            "probabilities": {
                label: round(float(p), 6) for label, p in zip(labels, row, strict=True)
            },
        }


def predict_examples(
    classifiers: Sequence[Classifier],
    examples: Sequence[Example],
    batch_size: int = PREDICT_BATCH_SIZE,
) -> list[dict[str, Any]]:
    """One prediction line per example: ``{"id", "text", "label", "probabilities"}``."""
    probabilities = ensemble_probabilities(classifiers, [x.text for x in examples], batch_size)
    return [
        {"id": example.id, "text": example.text, **guess}
        for example, guess in zip(
            examples, predicted(classifiers[0].labels, probabilities), strict=True
        )
    ]


def average_predictions(members: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """An ensemble's prediction lines: the mean of its members' class probabilities
    (members predicted the same examples, in the same order, over the same classes)."""
    first = members[0]
    labels = list(first[0]["probabilities"]) if first else []
    out = []
    for number, rows in enumerate(zip(*members, strict=True), start=1):
        if any((r["id"], r["text"]) != (rows[0]["id"], rows[0]["text"]) for r in rows):
            raise ClassifierFolderError(f"ensemble members differ at line {number}")
        if any(list(r["probabilities"]) != labels for r in rows):
            raise ClassifierFolderError(f"ensemble members' classes differ at line {number}")
        mean = np.mean([[r["probabilities"][x] for x in labels] for r in rows], axis=0)
        (guess,) = predicted(labels, mean[None, :])
        out.append({"id": rows[0]["id"], "text": rows[0]["text"], **guess})
    return out


def annotate_folders(
    model_dirs: Sequence[str | Path],
    texts: Iterable[InputText],
    *,
    device: Any = "auto",
    batch_size: int = PREDICT_BATCH_SIZE,
    max_len: int | None = None,
    stride: int | None = None,
    min_votes: int | None = None,
    threads: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Classification's annotator (:data:`nerflow.tasks.task.Annotator`): each input's
    fields with ``id``, the predicted ``label`` and the class ``probabilities``.
    ``min_votes`` is a tagger's ensemble option; classifiers average instead.
    ``threads``: torch's CPU threads."""
    if min_votes is not None:
        raise ClassifierFolderError("--min-votes is for taggers; classifiers average")
    if threads:
        import torch

        torch.set_num_threads(threads)
    classifiers = [load_classifier(d, device, max_len, stride) for d in model_dirs]
    check_members(classifiers, list(model_dirs))
    return _annotate(classifiers, texts, batch_size)


def _annotate(
    classifiers: Sequence[Classifier], texts: Iterable[InputText], batch_size: int
) -> Iterator[dict[str, Any]]:
    source = iter(texts)
    while chunk := list(itertools.islice(source, CHUNK)):
        probabilities = ensemble_probabilities(
            classifiers, [t.record.text for t in chunk], batch_size
        )
        for text, guess in zip(chunk, predicted(classifiers[0].labels, probabilities), strict=True):
            yield {"id": text.record.id, **text.fields, **guess}


def annotate_file(
    model_dirs: Sequence[str | Path],
    in_path: str | Path,
    out_path: str | Path,
    fmt: str = "auto",
    device: Any = "auto",
) -> int:
    """Classify a user file (plain text or JSON lines with ``text``) with one classifier or
    an ensemble's members; the output appears only when complete. The count of lines."""
    from nerflow.data.user_texts import read_input_texts

    texts = read_input_texts(in_path, fmt)
    return write_json_lines(out_path, annotate_folders(model_dirs, texts, device=device))
