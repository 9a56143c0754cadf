"""Scores of a classifier's predictions against gold labels: accuracy, macro F1, per-class
precision/recall/F1 and the confusion matrix (scikit-learn's metrics), plus the most
confident errors for the report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nerflow.classification.examples import Example, text_key
from nerflow.errors import UserError


class PairingError(ValueError, UserError):
    """Gold and predicted files that do not hold the same examples in the same order."""


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """A prediction file: one object with ``id``, ``text`` and a string ``label`` a line;
    anything else raises :class:`PairingError` naming the file and line."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise PairingError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("label"), str):
                raise PairingError(f"{path}:{number}: not an object with a string 'label'")
            rows.append(row)
    return rows


def pair_labels(
    gold: Sequence[Example], predicted: Sequence[dict[str, Any]], name: str = "predictions"
) -> tuple[list[str], list[str]]:
    """Gold and predicted labels, paired line by line; every predicted line must carry the
    id and the exact text of its gold example (a shifted or edited file is refused)."""
    if len(gold) != len(predicted):
        raise PairingError(f"{name}: {len(predicted)} lines for {len(gold)} gold examples")
    for line, (example, record) in enumerate(zip(gold, predicted, strict=True), start=1):
        if record.get("id") != example.id or record.get("text") != example.text:
            raise PairingError(
                f"{name}:{line}: id {record.get('id')!r} or text differs from gold example "
                f"{example.id!r}"
            )
    return [str(example.label) for example in gold], [str(r["label"]) for r in predicted]


def score_labels(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict:
    """``accuracy``, ``macro_f1``, ``weighted_f1``, ``per_class`` (precision, recall, f1,
    support) and ``confusion`` (rows: gold, columns: predicted, in ``labels`` order)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(labels)
    unknown = sorted(set(predicted) - set(labels))
    if unknown:
        raise PairingError(f"predicted labels outside the label set {labels}: {unknown}")
    if not gold:
        raise PairingError("no examples to score")
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    per_class = {
        label: {
            "precision": round(float(p[i]), 6),
            "recall": round(float(r[i]), 6),
            "f1": round(float(f[i]), 6),
            "support": int(s[i]),
        }
        for i, label in enumerate(labels)
    }
    seen = set(gold) | set(predicted)  # macro F1 over the classes of this split (scikit-learn's)
    present = [label for label in labels if label in seen]
    macro = sum(per_class[label]["f1"] for label in present) / max(1, len(present))
    weighted = sum(per_class[x]["f1"] * per_class[x]["support"] for x in labels) / len(gold)
    return {
        "examples": len(gold),
        "accuracy": round(float(accuracy_score(gold, predicted)), 6),
        "macro_f1": round(macro, 6),
        "weighted_f1": round(weighted, 6),
        "labels": labels,
        "per_class": per_class,
        "confusion": confusion_matrix(gold, predicted, labels=labels).tolist(),
    }


def score_split(
    gold: Sequence[Example],
    predicted: Sequence[dict[str, Any]],
    labels: Sequence[str],
    train: Sequence[Example] = (),
    name: str = "predictions",
) -> dict[str, Any]:
    """:func:`score_labels` of a split's prediction lines, plus ``train_overlap``: the
    accuracy on the examples whose text is also in ``train`` (a model may have memorised
    them) and on the others, apart."""
    gold_labels, predicted_labels = pair_labels(gold, predicted, name)
    scores = score_labels(gold_labels, predicted_labels, labels)
    in_train = {text_key(x.text) for x in train}
    groups: dict[str, list[bool]] = {"seen_in_train": [], "unseen": []}
    for example, want, got in zip(gold, gold_labels, predicted_labels, strict=True):
        group = "seen_in_train" if text_key(example.text) in in_train else "unseen"
        groups[group].append(want == got)
    scores["train_overlap"] = {
        group: {
            "examples": len(right),
            "accuracy": round(sum(right) / len(right), 6) if right else None,
        }
        for group, right in groups.items()
    }
    return scores


def confident_errors(
    gold: Sequence[Example], predicted: Sequence[dict[str, Any]], limit: int = 50
) -> list[dict[str, Any]]:
    """The wrong predictions with the highest probability of the predicted label, most
    confident first (ties by line)."""
    rows = [
        {
            "line": line,
            "id": example.id,
            "gold": example.label,
            "predicted": record["label"],
            "probability": float(record.get("probabilities", {}).get(record["label"], 1.0)),
            "text": example.text,
        }
        for line, (example, record) in enumerate(zip(gold, predicted, strict=True), start=1)
        if str(record["label"]) != str(example.label)
    ]
    rows.sort(key=lambda row: (-row["probability"], row["line"]))
    return rows[:limit]
