import re
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from nerflow.config.check import (
    config_errors,
    missing_data,
    window_errors,
    with_defaults,
)
from nerflow.config.choices import from_scratch
from nerflow.data.cluener import first_record_has_label
from nerflow.features.registry import FEATURES
from nerflow.text.tagging import SCHEMES
from nerflow.text.tokenization import TOKENIZATIONS
from nerflow.training.input_keys import cache_settings, input_key, tokenizer_settings

_config_problems = config_errors(
    config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
)
if _config_problems:
    raise ValueError("invalid configuration:\n  " + "\n  ".join(_config_problems))
# The schema fills in the defaults of all but the experiments and pretraining runs: those
# come from the dataclasses of nerflow.config.experiment.
validate(config, "../schemas/config.schema.yaml")
config.update(with_defaults(config))
_config_problems = window_errors(config)
if _config_problems:
    raise ValueError("invalid configuration:\n  " + "\n  ".join(_config_problems))

SPLITS = [split for split in ("train", "dev", "test") if config["data"].get(split)]
# The files rule download makes (config/config.yaml reads them); any other configured data
# file must exist before the run starts.
DOWNLOAD_TARGETS = [
    f"resources/cluener/{split}.json" for split in ("train", "dev", "test")
]
_missing = missing_data(config["data"], DOWNLOAD_TARGETS)
if _missing:
    raise WorkflowError(_missing)
# A labelled test split (Resume, Weibo, MSRA style) is scored; an unlabelled one (CLUENER)
# gets a submission file instead.
TEST_LABELLED = "test" in SPLITS and (
    config["data"]["test_labelled"]
    if config["data"]["test_labelled"] is not None
    else first_record_has_label(config["data"]["test"])
)
LABELLED_SPLITS = [split for split in SPLITS if split != "test" or TEST_LABELLED]
# Splits whose predictions are scored (dev alone selects models and epochs).
SCORED_SPLITS = ["dev", "test"] if TEST_LABELLED else ["dev"]
SCHEME = config["tagging"]["scheme"]
CHECKS = config["checks"]
EXPERIMENTS = config["experiments"]
ENSEMBLES = config["ensembles"]
_clash = sorted(set(EXPERIMENTS) & set(ENSEMBLES))
if _clash:
    raise ValueError(f"names used by both an experiment and an ensemble: {_clash}")
for _name, _ensemble in ENSEMBLES.items():
    _missing = sorted(set(_ensemble["members"]) - set(EXPERIMENTS))
    if _missing:
        raise ValueError(f"ensemble {_name}: members {_missing} are not experiments")
_requested = config["run_experiments"] or [*EXPERIMENTS, *ENSEMBLES]
_unknown = sorted(set(_requested) - set(EXPERIMENTS) - set(ENSEMBLES))
if _unknown:
    raise ValueError(f"run_experiments names unknown experiments: {_unknown}")
_not_experiments = sorted(set(config["export_onnx"]) - set(EXPERIMENTS))
if _not_experiments:
    raise ValueError(f"export_onnx names what is not an experiment: {_not_experiments}")
# The runs that the default target scores, reports and submits: the requested runs,
# each ensemble preceded by its members (the leaderboard compares them).
RUN_EXPERIMENTS = list(
    dict.fromkeys(
        member
        for name in _requested
        for member in [*ENSEMBLES.get(name, {}).get("members", []), name]
    )
)
PRETRAINED_PREFIX = "pretrained:"
# Wildcard pattern of experiment names (keeps the oracle run out of the training rules).
EXPERIMENT_PATTERN = "|".join(re.escape(name) for name in EXPERIMENTS) or "(?!)"
ENSEMBLE_PATTERN = "|".join(re.escape(name) for name in ENSEMBLES) or "(?!)"
# Runs with predictions of their own: experiments and ensembles.
RUN_PATTERN = "|".join(re.escape(name) for name in [*EXPERIMENTS, *ENSEMBLES]) or "(?!)"
# User files tagged by a trained run (`annotate`): the first requested run by default.
ANNOTATE = config["annotate"]
ANNOTATE_RUN = ANNOTATE["run"] or (RUN_EXPERIMENTS[0] if RUN_EXPERIMENTS else None)
if ANNOTATE["files"] and ANNOTATE_RUN not in [*EXPERIMENTS, *ENSEMBLES]:
    raise ValueError(
        f"annotate.run {ANNOTATE_RUN!r} is neither an experiment nor an ensemble"
    )
ANNOTATE_PATTERN = "|".join(re.escape(name) for name in ANNOTATE["files"]) or "(?!)"
# The features' per-split analysis stages (LAC's), by name.
ANALYSIS_PATTERN = (
    "|".join(re.escape(f.analysis) for f in FEATURES if f.analysis is not None)
    or "(?!)"
)


def raw_data(wildcards):
    return config["data"][wildcards.split]


def validation_labels(wildcards):
    """Train is validated against the configured labels only; other splits against
    the label set fixed by train (configured, or derived from train)."""
    if wildcards.split == "train":
        return []
    return ["results/data/labels.json"]


def experiment(name):
    """An experiment's config as the package expects it: every default and the scheme
    filled in (:func:`nerflow.config.check.with_defaults`)."""
    return EXPERIMENTS[name]


def run_config(name):
    """What the leaderboard shows of a run's setup: an experiment's config, or for an
    ensemble its members and vote threshold plus the setup its members share."""
    if name in EXPERIMENTS:
        return EXPERIMENTS[name]
    ensemble = ENSEMBLES[name]
    members = [EXPERIMENTS[member] for member in ensemble["members"]]
    shared = {
        key: members[0].get(key)
        for key in ("head", "tokenization", "max_len")
        if all(member.get(key) == members[0].get(key) for member in members)
    }
    return {
        **shared,
        "members": ensemble["members"],
        "min_votes": ensemble["min_votes"],
    }


def member_files(pattern):
    """Input function: ``pattern`` (with {member} and wildcards) for every member."""

    def files(wildcards):
        return [
            pattern.format(member=member, **wildcards)
            for member in ENSEMBLES[wildcards.run]["members"]
        ]

    return files


def scored_files(run):
    return [f"results/{run}/{split}_scores.json" for split in SCORED_SPLITS]


def run_members(run):
    """The experiments behind a run: itself, or an ensemble's members."""
    return ENSEMBLES[run]["members"] if run in ENSEMBLES else [run]


def run_model_dirs(run):
    return [f"results/{member}/trained/model" for member in run_members(run)]


def run_device(run):
    return EXPERIMENTS[run_members(run)[0]]["train"]["device"]


def encoder_files(encoder):
    """Files behind an encoder: a local folder or a pretraining stage's model. Hub ids
    and from-scratch encoders have none."""
    if encoder.startswith(PRETRAINED_PREFIX):
        return [f"results/pretrain/{encoder[len(PRETRAINED_PREFIX):]}/model"]
    if not from_scratch(encoder) and Path(encoder).is_dir():
        return [encoder]
    return []


def encoder_input(wildcards):
    """Files behind an experiment's encoder (:func:`encoder_files`)."""
    return encoder_files(EXPERIMENTS[wildcards.run]["encoder"])


def encoder_source(wildcards):
    """Where the experiment's weights and tokenizer come from (hub id, folder or scratch)."""
    inputs = encoder_input(wildcards)
    return inputs[0] if inputs else EXPERIMENTS[wildcards.run]["encoder"]


# Shared inputs (nerflow.training.input_keys): experiments that agree on what their tokenizer folder
# and train tensor cache depend on share them, in results/inputs/<key>/. TOKENIZERS and
# CACHES map each key to its settings (the rules' params); INPUT_KEYS maps an experiment
# to its two keys. The oracle's tokenizer is a scratch one too (checks.tokenizer auto).
TOKENIZERS, TOKENIZER_FILES, CACHES, INPUT_KEYS = {}, {}, {}, {}


def add_tokenizer(encoder, features):
    """Register the tokenizer folder of ``encoder`` (name in the config) and ``features``;
    its key."""
    files = encoder_files(encoder)
    settings = tokenizer_settings(files[0] if files else encoder, features)
    key = input_key(settings)
    TOKENIZERS[key], TOKENIZER_FILES[key] = settings, files
    return key


for _name, _experiment in EXPERIMENTS.items():
    _tokenizer = add_tokenizer(_experiment["encoder"], _experiment["features"])
    _settings = cache_settings(_tokenizer, _experiment)
    _cache = input_key(_settings)
    CACHES[_cache] = _settings
    INPUT_KEYS[_name] = {"tokenizer": _tokenizer, "cache": _cache}
ORACLE_TOKENIZER = (
    add_tokenizer("scratch", None) if CHECKS["tokenizer"] == "auto" else None
)
# Most unlikely with 10 hex digits, but one folder could not hold both.
if set(TOKENIZERS) & set(CACHES):
    raise ValueError(f"input keys clash: {sorted(set(TOKENIZERS) & set(CACHES))}")
TOKENIZER_PATTERN = "|".join(TOKENIZERS) or "(?!)"
CACHE_PATTERN = "|".join(CACHES) or "(?!)"


def tokenizer_folder(key):
    return f"results/inputs/{key}/tokenizer"


def tokenizer_dir(run):
    """The (shared) tokenizer folder of an experiment."""
    return tokenizer_folder(INPUT_KEYS[run]["tokenizer"])


def train_cache(wildcards):
    """The (shared) train tensor cache of an experiment."""
    return f"results/inputs/{INPUT_KEYS[wildcards.run]['cache']}/train.pt"


def checks_tokenizer():
    """Tokenizer folder of the round-trip and oracle runs."""
    if CHECKS["tokenizer"] == "auto":
        return tokenizer_folder(ORACLE_TOKENIZER)
    return CHECKS["tokenizer"]


def all_targets():
    targets = [f"results/data/{split}.jsonl" for split in SPLITS]
    targets += [f"results/tags/{split}.{SCHEME}.tsv" for split in LABELLED_SPLITS]
    targets += [
        f"results/roundtrip/{split}.{mode}.json"
        for split in LABELLED_SPLITS
        for mode in CHECKS["roundtrip_modes"]
    ]
    targets += [f"results/oracle/{split}_scores.json" for split in SCORED_SPLITS]
    if RUN_EXPERIMENTS:
        targets.append("results/dev_scores.json")
    if "test" in SPLITS and not TEST_LABELLED:
        targets += [f"results/submission/{name}.zip" for name in RUN_EXPERIMENTS]
    targets += [
        f"results/{name}/model/README.md"
        for name in RUN_EXPERIMENTS
        if name in EXPERIMENTS
    ]
    targets += [f"results/{name}/onnx" for name in config["export_onnx"]]
    for name in ANNOTATE["files"]:
        targets.append(f"results/{ANNOTATE_RUN}/annotated/{name}.jsonl")
        targets.append(f"results/{ANNOTATE_RUN}/annotated/{name}.textcheck.json")
    return targets
