import sys
from pathlib import Path

from snakemake.utils import validate

# The domain logic lives in the nerflow package (src/nerflow); the workflow only needs it
# here to fingerprint the code each stage runs, so editing it makes that stage stale.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from nerflow.provenance import code_fingerprint  # noqa: E402

validate(config, "../schemas/config.schema.yaml")

SPLITS = [split for split in ("train", "dev", "test") if config["data"].get(split)]
LABELLED_SPLITS = [split for split in SPLITS if split != "test"]
SCHEME = config["tagging"]["scheme"]
CHECKS = config["checks"]
EXPERIMENTS = config["experiments"]


def code(*modules):
    """Fingerprint of the nerflow modules behind a stage (goes into its params)."""
    return code_fingerprint(*(f"nerflow.{module}" for module in modules))


def raw_data(wildcards):
    return config["data"][wildcards.split]


def validation_labels(wildcards):
    """Train is validated against the configured labels only; other splits against
    the label set fixed by train (configured, or derived from train)."""
    if wildcards.split == "train":
        return []
    return ["results/data/labels.json"]


def checks_tokenizer():
    """Tokenizer folder of the round-trip and oracle runs."""
    if CHECKS["tokenizer"] == "auto":
        return "results/oracle/tokenizer"
    return CHECKS["tokenizer"]


def all_targets():
    targets = [f"results/data/{split}.jsonl" for split in SPLITS]
    targets += [f"results/tags/{split}.{SCHEME}.tsv" for split in LABELLED_SPLITS]
    targets += [
        f"results/roundtrip/{split}.{mode}.json"
        for split in LABELLED_SPLITS
        for mode in CHECKS["roundtrip_modes"]
    ]
    targets.append("results/oracle/dev_scores.json")
    return targets
