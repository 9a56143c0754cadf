"""The model card of a classifier folder: a Hugging Face style ``README.md`` (front matter
made with ``huggingface_hub``: accuracy and macro F1 of every scored split), the classes,
the model, the data by name and checksum, the scores and the training."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from nerflow.classification.folder import ClassifierMeta
from nerflow.classification.leaderboard import describe
from nerflow.classification.sequence import SequenceClassifier
from nerflow.report.modelcard import LICENSE, NA, fmt, markdown_table

HOW_TO = """## How to use

```bash
nerflow predict {model_dir} input.txt -o out.jsonl
```

Each output line holds the input's fields, the predicted `label` and the class
`probabilities`; long texts are read in windows (see the model's `max_len`)."""
HOW_TO_TRANSFORMERS = """
The folder is a transformers sequence classifier too (texts longer than `max_len` tokens
are truncated there, not windowed):

```python
from transformers import pipeline
classify = pipeline("text-classification", model="{model_dir}", top_k=None)
```"""


def front_matter(
    run: str, meta: ClassifierMeta, scores: Mapping[str, Mapping], dataset: str
) -> dict:
    from huggingface_hub import EvalResult, ModelCardData

    sequence = meta.emitter == SequenceClassifier.kind
    results = [
        EvalResult(
            task_type="text-classification",
            task_name="Text Classification",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split=split,
            metric_type=key,
            metric_name=name,
            metric_value=round(float(scores[split][key]), 4),
        )
        for split in scores
        for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro F1"))
    ]
    card = ModelCardData(
        language="zh",
        license=LICENSE,
        library_name="transformers" if sequence else "nerflow",
        pipeline_tag="text-classification" if sequence else None,
        tags=["text-classification", "nerflow", meta.kind],
        datasets=[dataset],
        model_name=run,
        eval_results=results or None,
    )
    return card.to_dict()


def render_classifier_card(
    *,
    run: str,
    meta: ClassifierMeta,
    scores: Mapping[str, Mapping[str, Any]],
    data: Mapping[str, Mapping[str, Any]],
    dataset: str,
    model_dir: str = "path/to/model",
) -> str:
    """The card of a classifier folder: ``scores`` split -> its scores file, ``data`` split
    -> ``{path, sha256, records}`` (:func:`nerflow.report.modelcard.training_data`)."""
    matter = front_matter(run, meta, scores, dataset)
    summary, settings = meta.training, meta.settings
    out = ["---", yaml.safe_dump(matter, allow_unicode=True, sort_keys=False).rstrip(), "---"]
    out += [
        f"\n# {run}\n\nA sentence classifier trained with nerflow on {dataset}: "
        f"{describe(meta.kind, settings)}.\n\n## Classes\n",
        *(f"- `{label}`" for label in meta.labels),
    ]
    rows = [[key, fmt(value)] for key, value in settings.items() if not isinstance(value, dict)]
    out += ["", "## Model", "", *markdown_table(["setting", "value"], rows)]
    cols = ("path", "records", "sha256")
    data_rows = [[split, *(data[split].get(k) for k in cols)] for split in data]
    out += ["", "## Data", "", *markdown_table(["split", "file", *cols[1:]], data_rows)]
    out += ["", "## Scores", ""]
    for split, result in scores.items():
        per_class = [
            [f"`{label}`", *(row.get(k) for k in ("precision", "recall", "f1", "support"))]
            for label, row in result["per_class"].items()
        ]
        out += [
            f"### {split}",
            "",
            f"accuracy {fmt(result['accuracy'])}, "
            f"macro F1 {fmt(result['macro_f1'])} ({result['examples']} examples)",
            "",
        ]
        out += markdown_table(["class", "precision", "recall", "F1", "support"], per_class) + [""]
    train_rows = [
        [key, fmt(summary.get(key, NA))]
        for key in (
            "epochs_run",
            "best_epoch",
            "best_metric",
            "select_metric",
            "stop_reason",
            "train_minutes",
            "hardware",
            "amp",
        )
        if key in summary
    ]
    out += ["## Training", "", *markdown_table(["training", "value"], train_rows), ""]
    how_to = HOW_TO + (HOW_TO_TRANSFORMERS if meta.emitter == SequenceClassifier.kind else "")
    out += [how_to.format(model_dir=model_dir)]
    return "\n".join(out).rstrip("\n") + "\n"
