"""Model cards: a Hugging Face style ``README.md`` for a trained model folder.

:func:`render_model_card` is pure: markdown with a YAML front matter (``model-index``:
strict micro P/R/F1 of every scored split); 4 decimals, ``n/a`` for missing values, never
invented. What a plain ``transformers`` load gives: :data:`PLAIN_LOAD`. File IO only in
:func:`training_data` (hashes the data files) and :func:`export_model`."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from nerflow.features.registry import FEATURES
from nerflow.models.registry import EMITTERS, HEADS
from nerflow.provenance import path_sha256
from nerflow.text.tagging import label_types

NA = "n/a"
SPLIT_ORDER = ("train", "dev", "test")
FEATURE_FLAGS = tuple(switch for feature in FEATURES for switch in feature.tensors)
"""The features' switches, in registry order (a card names those the model uses)."""
PLAIN_LOAD: dict[tuple[str, str | None], tuple[str, str]] = {
    **{("transformers", name): head.plain_load for name, head in HEADS.items()},
    **{
        (kind, None): emitter.plain_load
        for kind, emitter in EMITTERS.items()
        if emitter.plain_load is not None
    },
}
"""Per (emitter, head) (head None: any): ``library_name``, what the plain load gives (the
heads' and emitters' own :attr:`~nerflow.models.head.Head.plain_load`)."""
TIME_BUDGET_NOTE = (
    "Training was stopped by its time budget (`train.max_minutes`), not by its epochs or "
    "its patience: how far it got, and so these scores, depend on the machine's speed."
)
LICENSE = "apache-2.0"
"""The card's licence: the project's (``LICENSE``); the data's own terms stay the data's."""
PLAIN_LOAD_CALL = "`AutoModelForTokenClassification.from_pretrained(folder)`"
FEATURES_NOTE = (
    "This model uses input features ({names}): their embeddings (`emitter_features.safetensors`) "
    "are added by nerflow only; a plain transformers load ignores them, so its scores drop."
)
SCORE_ROWS = (
    ("strict micro precision", ("micro", "precision")),
    ("strict micro recall", ("micro", "recall")),
    ("strict micro F1", ("micro", "f1")),
    ("macro F1 (strict, per type)", ("macro_f1",)),
    ("CLUE macro F1 (official scorer)", ("clue_macro_f1",)),
    ("seqeval strict IOBES micro F1 (check)", ("seqeval_micro_f1",)),
    ("records scored", ("n_records",)),
    ("text mismatch lines", ("text_mismatch_lines",)),
)
HOW_TO = """## How to use

With nerflow (the full restore chain: sliding windows, CRF or span decoding, features):

```bash
nerflow predict {model_dir} input.txt -o out.jsonl
```

The input is plain text, one text per line, or JSON lines with a `text` field (`-` reads
stdin). In Python: `model, tokenizer, meta = nerflow.models.folder.load_model(folder)`.
"""
HOW_TO_TRANSFORMERS = """
With transformers (read the next section first):

```python
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
model = AutoModelForTokenClassification.from_pretrained("{model_dir}")
tokenizer = AutoTokenizer.from_pretrained("{model_dir}")
ner = pipeline("token-classification", model="{model_dir}", aggregation_strategy="simple")
```
"""


def fmt(value: Any) -> str:
    """A value for the card: floats with 4 decimals (4 significant digits below 0.001, so
    that a learning rate of 3e-5 keeps its value), ``n/a`` for None/NaN/missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    if isinstance(value, float):
        return f"{value:.4g}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        mapping = mapping.get(key) if isinstance(mapping, Mapping) else None
    return mapping


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[fmt(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in cells]


def _ordered(splits: Mapping[str, Any]) -> list[str]:
    return [s for s in SPLIT_ORDER if s in splits] + [s for s in splits if s not in SPLIT_ORDER]


def front_matter(
    run: str,
    head: str,
    library: str,
    scores: Mapping[str, Mapping],
    dataset_name: str,
    pipeline: bool = False,
) -> dict[str, Any]:
    """The YAML front matter as a dict, made with ``huggingface_hub``'s card data
    (``model-index`` from the scored splits). ``pipeline``: whether transformers'
    token-classification pipeline gives this model's entities; the ``pipeline_tag`` is
    declared only then."""
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(
            task_type="token-classification",
            task_name="Named Entity Recognition",
            dataset_type="cluener",
            dataset_name=dataset_name,
            dataset_split=split,
            metric_type=key,
            metric_name=f"strict micro {name}",
            metric_value=round(float(micro[key]), 4),
        )
        for split in _ordered(scores)
        for micro in [_get(scores[split], "micro") or {}]
        for key, name in (("f1", "F1"), ("precision", "precision"), ("recall", "recall"))
        if isinstance(micro.get(key), int | float) and math.isfinite(micro[key])
    ]
    card = ModelCardData(
        language="zh",
        license=LICENSE,
        library_name=library,
        pipeline_tag="token-classification" if pipeline else None,
        tags=["ner", "cluener", "nerflow", head],
        datasets=[dataset_name],
        model_name=run,
        eval_results=results or None,
    )
    return card.to_dict()


def _scores_section(split: str, result: Mapping) -> list[str]:
    rows: list[list[Any]] = [[name, _get(result, *keys)] for name, keys in SCORE_ROWS]
    counts = " / ".join(fmt(_get(result, "micro", k)) for k in ("tp", "fp", "fn"))
    rows.insert(3, ["tp / fp / fn", counts])
    lines = [f"### {split}", "", *markdown_table(["metric", "value"], rows)]
    per_type = result.get("per_type") or {}
    if split == "dev" and per_type:
        clue = _get(result, "clue", "per_type") or {}
        rows = [
            [f"`{name}`", *(_get(row, k) for k in ("precision", "recall", "f1"))]
            + [_get(clue.get(name), "f1"), _get(row, "support")]
            for name, row in per_type.items()
        ]
        lines += ["", "Per type (dev):", ""]
        lines += markdown_table(["type", "precision", "recall", "F1", "CLUE F1", "support"], rows)
    return lines + [""]


def render_model_card(
    *,
    run: str,
    meta: Mapping,
    summary: Mapping,
    scores: Mapping[str, Mapping],
    data: Mapping[str, Mapping],
    experiment: Mapping | None = None,
    hardware: str | None = None,
    dataset_name: str = "CLUENER2020",
    model_dir: str = "path/to/model",
) -> str:
    """The card: ``meta`` = ``nerflow_head.json`` (:meth:`nerflow.models.meta.ModelMeta.to_json`),
    ``summary`` = the train summary, ``scores`` split ->
    :func:`nerflow.evaluation.scoring.score` (scored splits only), ``data`` split -> ``{path,
    sha256, records}``, ``experiment`` its config block, ``hardware`` (else the device)."""
    emitter, head, scheme = str(meta.get("emitter")), str(meta.get("head")), meta.get("scheme")
    exp, tokenization, features = experiment or {}, meta.get("tokenization"), meta.get("features")
    facts = PLAIN_LOAD.get((emitter, head)) or PLAIN_LOAD.get((emitter, None))
    if facts is None:
        raise ValueError(f"no model card facts for emitter {emitter!r} with head {head!r}")
    labels, encoder = list(meta.get("labels") or []), exp.get("encoder", emitter)
    types = label_types(labels)
    names = ", ".join(name for name in FEATURE_FLAGS if _get(features, "spec", name)) or "yes"
    pipeline = emitter == "transformers" and HEADS[head].pipeline_usable
    matter = front_matter(run, head, facts[0], scores, dataset_name, pipeline)
    out = ["---", yaml.safe_dump(matter, allow_unicode=True, sort_keys=False).rstrip(), "---"]
    out += [
        f"\n# {run}\n\nChinese NER ({dataset_name} style) trained with nerflow: "
        f"`{fmt(encoder)}` encoder + {head} head, {fmt(tokenization)} tokenisation, "
        f"{fmt(scheme)} tags.\n\n## Labels\n",
        f"{len(types)} entity types, tagging scheme {fmt(scheme)} ({len(labels)} labels):\n",
        *(f"- `{t}`" for t in types),
    ]
    model_rows = [["encoder", encoder], ["emitter", emitter], ["head", head]]
    model_rows += [["parameters", summary.get("params")], ["tokenization", tokenization]]
    model_rows += [[key, meta.get(key)] for key in ("max_len", "stride")]
    model_rows += [[key, value] for key, value in (meta.get("head_settings") or {}).items()]
    if features:
        model_rows += [["features", names], ["fingerprint", features.get("fingerprint")]]
    out += ["", "## Model", "", *markdown_table(["setting", "value"], model_rows)]
    cols = ("path", "records", "sha256")
    data_rows = [[s, *(_get(data[s], k) for k in cols)] for s in _ordered(data)]
    out += ["", "## Training data", "", *markdown_table(["split", "file", *cols[1:]], data_rows)]
    out += ["", "## Scores", ""] + ([] if scores else ["No labelled split was scored.", ""])
    for split in _ordered(scores):
        out += _scores_section(split, scores[split])
    hyper = ", ".join(f"{k}={fmt(v)}" for k, v in (exp.get("train") or {}).items())
    train_rows = [
        ["epochs run", summary.get("epochs_run")],
        ["steps", summary.get("steps")],
        ["best epoch", summary.get("best_epoch")],
        [f"best {fmt(summary.get('select_metric'))} (on dev)", summary.get("best_metric")],
        ["stop reason", summary.get("stop_reason")],
        ["train minutes", summary.get("train_minutes")],
        ["sentences/s", summary.get("sentences_per_s")],
        ["hardware", hardware or summary.get("hardware") or summary.get("device")],
        ["mixed precision (amp)", summary.get("amp")],
        ["hyperparameters", hyper or NA],
    ]
    how_to = HOW_TO + (HOW_TO_TRANSFORMERS if pipeline else "")
    out += ["## Training", "", *markdown_table(["training", "value"], train_rows), ""]
    if summary.get("stop_reason") == "time_budget":
        out += [TIME_BUDGET_NOTE, ""]
    out += [how_to.format(model_dir=model_dir)]
    window = {key: fmt(meta.get(key)) for key in ("max_len", "stride")}
    text = facts[1].format(tokenization=fmt(tokenization), **window)
    out += ["## What a plain transformers load gives", "", f"{PLAIN_LOAD_CALL} gives {text}"]
    if emitter == "transformers" and features:
        out += ["", FEATURES_NOTE.format(names=names)]
    return "\n".join(out).rstrip("\n") + "\n"


def training_data(
    splits: Sequence[str], paths: Sequence[str | Path], reports: Sequence[Mapping]
) -> dict[str, dict[str, Any]]:
    """The ``data`` of :func:`render_model_card`: split -> ``{path, sha256, records}`` from
    the data files and their validation reports (``records``: the valid ones); a file is
    named by its name and checksum, never by where it lay on the training machine."""
    return {
        split: {
            "path": Path(path).name,
            "sha256": path_sha256(path),
            "records": report.get("records"),
        }
        for split, path, report in zip(splits, paths, reports, strict=True)
    }


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(source, target)


def export_model(trained: str | Path, out_dir: str | Path, card: str) -> Path:
    """``out_dir`` (replaced): the files of the model folder ``trained`` (hard links where
    the file system allows, else copies; Snakemake's timestamp file left out) plus ``card``
    as ``README.md``."""
    out = Path(out_dir)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(
        trained,
        out,
        copy_function=_link_or_copy,
        ignore=shutil.ignore_patterns(".snakemake_timestamp"),
    )
    (out / "README.md").write_text(card, encoding="utf-8")
    return out
