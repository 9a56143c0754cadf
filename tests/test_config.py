"""The typed configuration (nerflow.config.experiment): defaults written once, errors named by path,
and the workflow's schema and config/README.md in step with the dataclasses."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
import yaml
from jsonschema import Draft202012Validator

from nerflow.config.check import WORKFLOW_KEYS, config_errors, with_defaults
from nerflow.config.experiment import BiLSTMConfig, ExperimentConfig, Scheme, TrainConfig
from nerflow.config.scratch import PretrainConfig, ScratchConfig
from nerflow.errors import UserError
from nerflow.features.config import FeatureConfig
from nerflow.section import ConfigError, Section, block_schema, field_types, json_type
from nerflow.text.tagging import SCHEMES

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
README = (REPO / "config" / "README.md").read_text(encoding="utf-8")
SECTIONS = [
    TrainConfig,
    ScratchConfig,
    BiLSTMConfig,
    FeatureConfig,
    PretrainConfig,
    ExperimentConfig,
]


def bad(
    section: type[Section], mapping: Any, path: str = "experiments.x", reserved: Any = None
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        section.from_dict(mapping, path, reserved)
    return caught.value.problems


# --------------------------------------------------------------------------- defaults


def test_a_bare_experiment_takes_every_default() -> None:
    experiment = ExperimentConfig.from_dict({"encoder": "scratch"})
    assert experiment == ExperimentConfig("scratch")
    assert (experiment.head, experiment.tokenization, experiment.scheme) == ("crf", "char", "BIOS")
    assert (experiment.max_len, experiment.stride, experiment.span_head_size) == (128, 32, 64)
    assert experiment.train == TrainConfig() and experiment.features == FeatureConfig()
    assert (experiment.train.lr, experiment.train.head_lr) == (3.0e-5, 3.0e-3)
    assert experiment.scratch.to_dict() == {
        "layers": 4,
        "hidden": 256,
        "heads": 4,
        "intermediate": 1024,
        "dropout": 0.1,
    }
    assert experiment.bilstm.embedding_dropout is None and experiment.feature_dir is None


@pytest.mark.parametrize("section", SECTIONS)
def test_every_field_but_the_encoder_has_a_default(section: type[Section]) -> None:
    missing = [f.name for f in dataclasses.fields(section) if f.default is dataclasses.MISSING]
    assert missing == (["encoder"] if section is ExperimentConfig else [])


def test_the_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------- from_dict


def test_an_unknown_key_is_named_by_its_path_with_the_allowed_keys() -> None:
    (problem,) = bad(ExperimentConfig, {"encoder": "scratch", "train": {"lr": 1e-3, "lrr": 1}})
    assert problem.startswith("experiments.x.train.lrr: unknown key; allowed: epochs, batch_size")
    assert "head_lr" in problem and "ema_decay" in problem


def test_a_wrong_type_names_the_path_the_expected_type_and_the_value() -> None:
    problems = bad(
        ExperimentConfig,
        {
            "encoder": "scratch",
            "max_len": "long",
            "features": {"bigram": "yes", "lexicon_path": 3},
            "bilstm": {"hidden": 1.5, "layers": True},
            "train": {"lr": "fast", "amp": "fp8"},
        },
    )
    assert problems == [
        "experiments.x.max_len: 'long' is not of type 'integer'",
        "experiments.x.bilstm.hidden: 1.5 is not of type 'integer'",
        "experiments.x.bilstm.layers: True is not of type 'integer'",
        "experiments.x.features.bigram: 'yes' is not of type 'boolean'",
        "experiments.x.features.lexicon_path: 3 is not of type 'string', 'null'",
        "experiments.x.train.lr: 'fast' is not of type 'number'",
        "experiments.x.train.amp: 'fp8' is not one of ['auto', 'bf16', 'fp16', 'off']",
    ]


def test_a_missing_encoder_and_a_block_that_is_no_mapping_are_named() -> None:
    assert bad(ExperimentConfig, {"train": None}) == [
        "experiments.x.encoder: required key is missing",
        "experiments.x.train: None is not of type 'object'",
    ]
    assert bad(PretrainConfig, ["layers"], "pretraining.p") == [
        "pretraining.p: ['layers'] is not of type 'object'"
    ]


def test_reserved_keys_are_refused_with_their_reason_and_not_offered() -> None:
    reserved = {"scheme": "set by the caller"}
    problems = bad(
        ExperimentConfig, {"encoder": "x", "scheme": "BIO", "schem": 1}, reserved=reserved
    )
    assert problems == [
        "experiments.x.scheme: not a setting here: set by the caller",
        "experiments.x.schem: unknown key; allowed: encoder, head, tokenization, max_len, "
        "stride, span_head_size, span_decoding, scratch, bilstm, features, train, feature_dir",
    ]


def test_a_config_error_is_a_user_error_and_a_value_error() -> None:
    with pytest.raises(ConfigError) as caught:
        ScratchConfig.from_dict({"layer": 2})
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith("experiments.NAME.scratch.layer: unknown key")


def test_coerce_keeps_a_block_and_reads_a_mapping_or_none() -> None:
    train = TrainConfig(lr=1.0)
    assert TrainConfig.coerce(train) is train
    assert TrainConfig.coerce({"lr": 1.0}) == train and TrainConfig.coerce(None) == TrainConfig()
    with pytest.raises(ConfigError, match=r"experiments\.NAME\.train\.lrr: unknown key"):
        ExperimentConfig.coerce({"encoder": "scratch", "train": {"lrr": 1}})


def test_values_are_kept_as_written_an_integer_standing_for_a_float() -> None:
    train = TrainConfig.from_dict({"lr": 1, "max_minutes": 9.6}, "experiments.x.train")
    assert train.lr == 1 and type(train.lr) is int and train.max_minutes == 9.6


# --------------------------------------------------------------------------- round trip


def test_to_dict_and_from_dict_round_trip() -> None:
    given = {
        "encoder": "bilstm",
        "head": "span",
        "max_len": 64,
        "stride": 16,
        "scheme": "BIOES",
        "bilstm": {"hidden": 64, "embedding_dropout": 0.2},
        "features": {"bigram": True, "lexicon_path": "words.txt"},
        "train": {"epochs": 2, "device": "cpu"},
        "feature_dir": "assets",
    }
    experiment = ExperimentConfig.from_dict(given)
    full = experiment.to_dict()
    assert ExperimentConfig.from_dict(full) == experiment
    assert ExperimentConfig.from_dict(full).to_dict() == full
    assert full["bilstm"] == {**BiLSTMConfig().to_dict(), **given["bilstm"]}
    assert full["train"] == {**TrainConfig().to_dict(), **given["train"]}
    assert list(full) == [field.name for field in dataclasses.fields(ExperimentConfig)]


# --------------------------------------------------------------------------- schema


def schema_pairs() -> list[tuple[str, dict, type[Section]]]:
    """(path, generated schema node, dataclass) of every block the dataclasses describe."""
    pairs = [
        ("experiments.NAME", block_schema(ExperimentConfig, WORKFLOW_KEYS), ExperimentConfig),
        ("pretraining.NAME", block_schema(PretrainConfig), PretrainConfig),
    ]
    for path, node, section in list(pairs):
        for name, hint in field_types(section).items():
            if isinstance(hint, type) and issubclass(hint, Section):
                pairs.append((f"{path}.{name}", node["properties"][name], hint))
    return pairs


@pytest.mark.parametrize(
    ("path", "node", "section"), [pytest.param(*pair, id=pair[0]) for pair in schema_pairs()]
)
def test_the_generated_schema_has_the_dataclass_keys_types_and_bounds_and_no_defaults(
    path: str, node: dict, section: type[Section]
) -> None:
    Draft202012Validator.check_schema(node)
    assert node["type"] == "object" and node["additionalProperties"] is False
    fields = {field.name: field for field in dataclasses.fields(section)}
    workflow_set = WORKFLOW_KEYS if section is ExperimentConfig else {}
    assert set(node["properties"]) == set(fields) - set(workflow_set), path
    assert "default" not in node, path
    for name, spec in node["properties"].items():
        assert "default" not in spec, f"{path}.{name}: the default belongs to the dataclass"
        hint = field_types(section)[name]
        if isinstance(hint, type) and issubclass(hint, Section):
            continue  # a block of its own (schema_pairs)
        if get_origin(hint) is Literal:
            assert spec["enum"] == list(get_args(hint)), f"{path}.{name}"
        else:
            kinds = get_args(hint) or (hint,)
            written = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
            assert set(written) == {json_type(kind) for kind in kinds}, f"{path}.{name}"
        for key, value in fields[name].metadata.items():
            assert spec[key] == value, f"{path}.{name}: {key}"


def test_the_schema_file_holds_no_copy_of_the_blocks() -> None:
    """Keys, types and bounds of experiments and pretraining runs are written once, in the
    dataclasses; the workflow's schema says only that each is an object."""
    for top in ("experiments", "pretraining"):
        assert SCHEMA["properties"][top]["additionalProperties"] == {"type": "object"}
    assert "definitions" not in SCHEMA and "$defs" not in SCHEMA
    epochs = block_schema(ExperimentConfig)["properties"]["train"]["properties"]["epochs"]
    assert epochs == {"type": "integer", "minimum": 1}


def test_the_tagging_scheme_is_the_experiments_scheme() -> None:
    scheme = SCHEMA["properties"]["tagging"]["properties"]["scheme"]
    assert scheme["enum"] == list(get_args(Scheme)) == list(SCHEMES)
    assert scheme["default"] == ExperimentConfig("x").scheme


# --------------------------------------------------------------------------- workflow


def workflow_config(**experiment: Any) -> dict:
    return {
        "data": {"train": "t.json", "dev": "d.json"},
        "experiments": {"x": {"encoder": "scratch", **experiment}},
    }


def test_config_errors_take_the_dataclass_messages_and_the_schema_bounds() -> None:
    config = workflow_config(haed="crf", scheme="BIO", train={"lr": "fast", "epochs": 0})
    config["pretraining"] = {"p": {"layers": 0, "hiden": 8}}
    config["tagging"] = {"scheme": "IOB"}
    allowed = [key for key in field_types(ExperimentConfig) if key not in WORKFLOW_KEYS]
    assert config_errors(config, SCHEMA_PATH) == [
        "experiments.x.haed: unknown key; allowed: " + ", ".join(allowed),
        "experiments.x.scheme: not a setting here: " + WORKFLOW_KEYS["scheme"],
        "experiments.x.train.epochs: 0 is less than the minimum of 1",
        "experiments.x.train.lr: 'fast' is not of type 'number'",
        "pretraining.p.hiden: unknown key; allowed: " + ", ".join(field_types(PretrainConfig)),
        "pretraining.p.layers: 0 is less than the minimum of 1",
        "tagging.scheme: 'IOB' is not one of ['BIO', 'BIOS', 'BIOES']",
    ]


def test_with_defaults_completes_experiments_and_pretraining_runs() -> None:
    config = workflow_config(train={"epochs": 2})
    config.update(tagging={"scheme": "BIOES"}, pretraining={"p": {"layers": 2}})
    assert config_errors(config, SCHEMA_PATH) == []
    full = with_defaults(config)
    expected = ExperimentConfig("scratch", scheme="BIOES", train=TrainConfig(epochs=2))
    assert full["experiments"]["x"] == expected.to_dict()
    assert full["pretraining"]["p"] == PretrainConfig(layers=2).to_dict()
    assert full["data"] == config["data"] and config["experiments"]["x"]["train"] == {"epochs": 2}


# --------------------------------------------------------------------------- README


def documented_value(text: str) -> Any:
    """``3e-5`` -> 3e-05, ``null`` -> None, `` `crf` `` -> "crf"."""
    value = yaml.safe_load(text.strip().strip("`"))
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def key_list(text: str) -> dict[str, Any]:
    """``"`layers` (4), `lexicon_path` (null: jieba's own)"`` -> {layers: 4, lexicon_path: None}."""
    return {
        key: documented_value(value) for key, value in re.findall(r"`(\w+)`\s+\(([^):,]+)", text)
    }


def documented_defaults() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """``{block: (defaults config/README.md lists, the dataclass defaults)}``: the rows of
    the experiments table, the keys its block rows list, the pretraining keys."""
    experiment = ExperimentConfig("x").to_dict()
    table = README.split("## `experiments`", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| `([\w.]+)` \| ([^|]+) \| (.+) \|$", table, re.MULTILINE)
    blocks = [name for name, value in experiment.items() if isinstance(value, dict)]
    found: dict[str, dict[str, Any]] = {"experiment": {}, "train": {}}
    for key, default, meaning in cells:
        block, _, name = key.rpartition(".")
        if key in blocks and key != "train":
            found[key] = key_list(meaning)
        elif key not in ("encoder", "train"):
            found[block or "experiment"][name] = documented_value(default)
    found["pretraining"] = key_list(README.split("## `pretraining`", 1)[1])
    left_out = (*blocks, *WORKFLOW_KEYS, "encoder")
    plain = {key: value for key, value in experiment.items() if key not in left_out}
    defaults = {"experiment": plain, "pretraining": PretrainConfig().to_dict()}
    return {block: (found[block], defaults.get(block) or experiment[block]) for block in found}


@pytest.mark.parametrize(
    "block", ["experiment", "train", "scratch", "bilstm", "features", "pretraining"]
)
def test_the_readme_lists_every_default_of_the_dataclasses(block: str) -> None:
    documented, defaults = documented_defaults()[block]
    assert documented == defaults


def test_missing_data_is_one_line_saying_how_to_get_it(tmp_path: Path) -> None:
    from nerflow.config.check import missing_data

    present = tmp_path / "train.json"
    present.write_text("{}\n", encoding="utf-8")
    data = {"train": str(present), "dev": str(tmp_path / "dev.json"), "test": None}
    line = missing_data(data, [])
    assert line is not None and "\n" not in line
    assert line.startswith(f"no such file: data.dev {tmp_path / 'dev.json'}. Put the CLUENER")
    assert "config/config.yaml, which downloads them" in line
    assert missing_data(data, [str(tmp_path / "dev.json")]) is None  # the download makes it


def test_a_run_without_its_data_stops_at_once_with_that_line(tmp_path: Path) -> None:
    from workflow_helpers import snakemake, write_config

    write_config(tmp_path, {"data": {"train": "nowhere/train.json", "dev": "nowhere/dev.json"}})
    result = snakemake(tmp_path, "-n", check=False)
    assert result.returncode != 0
    assert "no such file: data.train nowhere/train.json; data.dev nowhere/dev.json." in (
        result.stdout + result.stderr
    )
    assert "MissingInputException" not in result.stdout + result.stderr
