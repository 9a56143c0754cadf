# The classification task's helpers (classification.smk holds its rules).
import re

from nerflow.classification.config import RESULTS
from nerflow.classification.workflow import plan

PLAN = plan(config)
CLS = PLAN.block
# The stage helpers (provenance seeds) read the experiments with their defaults.
config["classification"]["experiments"] = {
    name: PLAN.experiment_config(name) for name in PLAN.experiments
}
NEURAL = [name for name in PLAN.experiments if PLAN.kind(name) == "neural"]
ENSEMBLES = list(CLS.ensembles)
ANNOTATE_FILES = CLS.annotate.get("files") or {}
ANNOTATE_RUN = CLS.annotate.get("run") or (PLAN.runs[0] if PLAN.runs else None)
LINEAR = [name for name in PLAN.experiments if PLAN.kind(name) == "linear"]


def pattern(names):
    return "|".join(re.escape(name) for name in names) or "(?!)"


def split_labels(wildcards):
    """Train is checked against the configured labels; the other splits against the
    label set that train fixed."""
    return [] if wildcards.split == "train" else [f"{RESULTS}/data/labels.json"]


def task_targets():
    """The inputs of the Snakefile's `rule all`. Validated splits, the overlap report, every
    run's predictions and the leaderboard."""
    return [
        *[
            f"{RESULTS}/{ANNOTATE_RUN}/annotated/{name}.jsonl"
            for name in ANNOTATE_FILES
        ],
        *expand(f"{RESULTS}/data/{{split}}.jsonl", split=PLAN.splits),
        f"{RESULTS}/data/overlap.json",
        f"{RESULTS}/leaderboard.tsv",
        *[
            f"{RESULTS}/{run}/model/README.md"
            for run in PLAN.runs
            if run not in ENSEMBLES
        ],
        *expand(
            f"{RESULTS}/{{run}}/plots/{{name}}",
            run=PLAN.runs,
            name=["per_class_f1.svg", "confusion.svg", "errors.html"],
        ),
        *expand(
            f"{RESULTS}/{{run}}/predictions/{{split}}.jsonl",
            run=PLAN.runs,
            split=PLAN.splits[1:],
        ),
    ]
