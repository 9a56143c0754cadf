"""Staleness: an edit makes Snakemake rerun exactly the stages it concerns; a run is
deterministic; outputs record their code and seeds.

Stage fingerprints are derived from each script's own imports (``script_code`` in
``workflow/rules/common.smk``, ``nerflow.provenance.script_code``). The generic test below
computes, independently with :mod:`modulefinder`, which rules run each module of the
package, and reads from Snakemake itself which rules' params a whitespace edit of that
module changes.

Run as a script (``python test_staleness.py collect WORKDIR OUT MODULE_FILE...``), this
file is the Snakemake-API helper of that test: it builds the DAG once per edited module in
one process (a fresh ``snakemake`` per module would cost seconds each).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from workflow_helpers import (
    FIXTURES,
    REPO,
    copy_workflow,
    load_json,
    shared_inputs,
    snakemake,
    write_config,
)

sys.path.insert(0, str(REPO / "bench"))
from dryrun import modules_run_by, parse_dry_run, script_rules  # noqa: E402

TINY_SCRATCH = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64}
TINY_TRAIN = {"epochs": 1, "batch_size": 8, "lr": 5.0e-3, "head_lr": 5.0e-2, "device": "cpu"}
PRETRAINING = {"mini": dict(TINY_SCRATCH, epochs=1, seed=5, device="cpu")}
ALPHA = {
    "encoder": "scratch",
    "scratch": TINY_SCRATCH,
    "head": "crf",
    "max_len": 64,
    "train": dict(TINY_TRAIN, seed=7),
}
# Three experiments, one fine-tuning a pretraining stage: a change to one leaves the others
# (and the pretraining) alone. alpha_s2 differs from alpha in its seed alone: it shares
# alpha's tokenizer folder and tensor cache.
EXPERIMENTS = {
    "alpha": ALPHA,
    "beta": {
        "encoder": "pretrained:mini",
        "head": "softmax",
        "max_len": 64,
        "train": dict(TINY_TRAIN, seed=11),
    },
    "alpha_s2": dict(ALPHA, train=dict(TINY_TRAIN, seed=8)),
}
RUN_TARGETS = tuple(f"results/{name}/dev_scores.json" for name in EXPERIMENTS)
# The rules behind RUN_TARGETS.
RUN_RULES = {
    "validate_split",
    "label_set",
    "pretrain_tokenizer",
    "pretrain_mlm",
    "tokenizer",
    "tensor_cache",
    "train",
    "predict",
    "text_check",
    "score",
}
ALPHA_TARGETS = ("results/alpha/dev_scores.json",)
SPLITS = ("train", "dev", "test")


# --------------------------------------------------------------------------- helpers


def module_name(path: Path) -> str:
    """``.../src/nerflow/data/records.py`` -> ``nerflow.data.records`` (a package: its name)."""
    parts = list(path.parts[path.parts.index("nerflow") :])
    if parts[-1] == "__init__.py":
        parts.pop()
    else:
        parts[-1] = path.stem
    return ".".join(parts)


def dry_run_jobs(workdir: Path, *targets: str) -> list[dict]:
    """The jobs ``snakemake -n`` plans: rule, input, output, reason and wildcards of each."""
    result = snakemake(workdir, *targets, "-n", snakefile=workdir / "Snakefile")
    jobs = parse_dry_run(result.stdout + "\n" + result.stderr)
    return [job for job in jobs if job["rule"] != "all"]


def summary(workdir: Path, *targets: str) -> list[dict]:
    """``snakemake --summary``: per output file its rule, status and plan. Unlike the reason
    of a dry run (a job rerun for an updated input is not checked further), the status
    ``params changed`` is computed for every output: it is exactly the jobs whose own
    params differ from those recorded. (``--list-changes params`` of Snakemake 9.27 lists
    one output of every job, changed or not.)"""
    result = snakemake(workdir, *targets, "--summary", snakefile=workdir / "Snakefile")
    lines = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    header = lines[0]
    assert header[:3] == ["output_file", "date", "rule"], header
    rows = [dict(zip(header, line, strict=True)) for line in lines[1:]]
    for row in rows:
        parts = row["output_file"].split("/")
        row["run"] = parts[1] if parts[0] == "results" and parts[1] in EXPERIMENTS else None
        row["pending"] = row["plan"] == "update pending"
    return rows


def params_changed(rows: list[dict]) -> set[str]:
    """Rules whose own params changed since they ran."""
    return {row["rule"] for row in rows if row["status"] == "params changed"}


def pending(rows: list[dict]) -> list[dict]:
    return [row for row in rows if row["pending"]]


def experiment_config(workdir: Path, **overrides: object) -> dict:
    data = {split: str(workdir / "data" / f"{split}.json") for split in SPLITS}
    config = {
        "data": data,
        "pretraining": PRETRAINING,
        "experiments": json.loads(json.dumps(EXPERIMENTS)),
    }
    config.update(overrides)
    return config


def fresh_workdir(folder: Path) -> Path:
    """The workflow and a private copy of the tiny data (so a test may edit it)."""
    workdir = copy_workflow(folder)
    (workdir / "data").mkdir()
    for split in SPLITS:
        shutil.copy(FIXTURES / "tiny" / f"{split}.json", workdir / "data" / f"{split}.json")
    write_config(workdir, experiment_config(workdir))
    return workdir


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run of two experiments (one on a pretraining stage)."""
    workdir = fresh_workdir(tmp_path_factory.mktemp("staleness"))
    snakemake(workdir, "--cores", "2", *RUN_TARGETS, snakefile=workdir / "Snakefile")
    return workdir


# --------------------------------------------------------------------------- fingerprints


def test_every_script_rule_fingerprints_its_own_script() -> None:
    """The script name is typed twice per rule (``script:`` and ``script_code``): they
    must agree, and no rule may type a module list."""
    rules = script_rules(REPO / "workflow/rules")
    assert len(rules) > 20
    problems = []
    for name, rule in rules.items():
        if rule["script"] is None:
            if rule["code"] is not None:
                problems.append(f"{rule['file']}: rule {name} has code= but no script:")
            continue
        expected = f'script_code("{rule["script"]}")'
        if rule["code"] != expected:
            problems.append(f"{rule['file']}: rule {name}: code={rule['code']}, want {expected}")
    for script in sorted((REPO / "workflow/scripts").glob("*.py")):
        calls = re.findall(r"stage\.finish\((.*)\)", script.read_text(encoding="utf-8"))
        if any(not re.fullmatch(r"smk(, outputs=.*)?", call) for call in calls):
            problems.append(f"{script.name}: stage.finish({calls}) types what it records")
    assert not problems, "\n".join(problems)


def test_script_modules_follow_the_imports_of_the_script(tmp_path: Path) -> None:
    """Imports inside functions and ``if`` blocks count; importing ``nerflow.x`` runs the
    ``nerflow`` package; a function imported from a module means that module."""
    from nerflow.provenance import script_code, script_modules

    package = tmp_path / "nerflow"
    package.mkdir()
    (package / "__init__.py").write_text('"""p"""\n')
    (package / "a.py").write_text("from nerflow.b import f\n")
    (package / "b.py").write_text("from . import c\n\ndef f():\n    from nerflow import d\n")
    for leaf in ("c", "d", "e", "unused"):
        (package / f"{leaf}.py").write_text("X = 1\n")
    script = tmp_path / "job.py"
    script.write_text("import json\nfrom nerflow.a import g\nif json:\n    import nerflow.e\n")
    expected = ["nerflow", "nerflow.a", "nerflow.b", "nerflow.c", "nerflow.d", "nerflow.e"]
    assert script_modules(script, package) == expected
    assert sorted(modules_run_by(script, tmp_path)) == expected
    before = script_code(script, package)
    assert before["script"] == "job.py" and before["modules"] == expected
    (package / "unused.py").write_text("X = 2\n")
    assert script_code(script, package) == before
    (package / "d.py").write_text("X = 1\n\n")
    assert script_code(script, package)["fingerprint"] != before["fingerprint"]


def scripts_running(module: str) -> set[str]:
    """The workflow scripts whose code fingerprint holds ``module``."""
    from nerflow.provenance import script_modules

    return {
        script.stem
        for script in (REPO / "workflow/scripts").glob("*.py")
        if module in script_modules(script, REPO / "src" / "nerflow")
    }


def test_the_user_text_parser_is_run_only_by_the_stages_that_parse_user_text() -> None:
    """Editing how user texts are read re-stales the annotation and the text checks (which
    read predictions as user files), nothing else."""
    from nerflow.data.user_texts import iter_input_texts

    assert scripts_running(iter_input_texts.__module__) == {"annotate", "text_check"}


def test_a_training_default_is_read_only_by_training_and_what_follows_it() -> None:
    """Editing a default of the ``train`` block (its module) re-stales training and the
    stages that load or describe a trained model; no stage before training (data, tags, tokenizers,
    tensor caches, pretraining, scores) runs that module."""
    from nerflow.config.experiment import TrainConfig

    after_training = {"train", "predict", "annotate", "model_card", "export_onnx"}
    assert scripts_running(TrainConfig.__module__) == after_training


def observed_edits(workdir: Path, tmp_path: Path, task_file: Callable[[str], bool]) -> tuple:
    """Whitespace-edit every module of the copy in ``workdir`` (its config written) and
    collect the rules whose params Snakemake sees change; the script rules of the rule
    files ``task_file`` accepts, what they should see, and what was observed."""
    src = workdir / "src"
    module_files = sorted((src / "nerflow").rglob("*.py"))
    assert len(module_files) > 20
    rules = {
        name: r
        for name, r in script_rules(workdir / "workflow/rules").items()
        if r["script"] and task_file(r["file"])
    }
    runs = {
        script: modules_run_by(workdir / f"workflow/scripts/{script}.py", src)
        for script in {rule["script"] for rule in rules.values()}
    }
    expected = {
        module_name(path): {
            name for name, rule in rules.items() if module_name(path) in runs[rule["script"]]
        }
        for path in module_files
    }
    out = tmp_path / "observed.json"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, __file__, "collect", str(workdir), str(out), *map(str, module_files)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    observed = json.loads(out.read_text(encoding="utf-8"))
    print(f"{len(module_files)} module edits observed in {time.monotonic() - started:.1f} s")
    # Every script rule of the task must be in this DAG (a new rule may need a config key).
    assert sorted(observed["rules"]) == sorted(rules)
    assert observed["unchanged_after_restore"], "params are stable when nothing changed"
    wrong = [
        f"{module}: expected {sorted(expected[module])}, Snakemake saw {sorted(seen)}"
        for module, seen in observed["changed"].items()
        if set(seen) != expected[module]
    ]
    assert not wrong, "\n".join(wrong)
    assert sorted(observed["changed"]["nerflow.stage"]) == sorted(rules)  # every stage runs it
    return rules, observed


CLASSIFICATION_RULES = "classification.smk"


def test_a_whitespace_edit_of_any_module_restales_exactly_the_rules_that_run_it(
    tmp_path: Path,
) -> None:
    """For EVERY module of the package: the rules of the NER task whose params Snakemake
    sees change are exactly the rules whose scripts import it, directly or transitively
    (modulefinder)."""
    workdir = copy_workflow(tmp_path / "workflow")
    notes = workdir / "notes.txt"
    notes.write_text("叶老桂在北京\n", encoding="utf-8")
    # Data under resources/cluener (absent): the download rule is in the DAG too, and with
    # pretraining, an ensemble and annotate every rule of the workflow is.
    write_config(
        workdir,
        {
            "data": {split: f"resources/cluener/{split}.json" for split in SPLITS},
            "pretraining": PRETRAINING,
            "experiments": {**EXPERIMENTS, "gamma": dict(ALPHA, features={"lac": True})},
            "ensembles": {"vote": {"members": ["alpha", "beta"]}},
            "annotate": {"run": "vote", "files": {"notes": str(notes)}},
            "export_onnx": ["alpha"],
        },
    )
    _, observed = observed_edits(workdir, tmp_path, lambda file: file != CLASSIFICATION_RULES)
    # Not vacuous: the cases.
    assert {"text_check", "annotate_text_check"} <= set(
        observed["changed"]["nerflow.data.user_texts"]
    )
    assert "tokenizer" in observed["changed"]["nerflow.features.featurizer"]


def test_the_classification_task_restales_exactly_the_rules_that_run_a_module(
    tmp_path: Path,
) -> None:
    """The same for the classification task's rules (``task: classification``)."""
    workdir = copy_workflow(tmp_path / "workflow")
    notes = workdir / "notes.txt"
    notes.write_text("房间很干净\n", encoding="utf-8")
    sentiment = Path(__file__).parent / "fixtures" / "sentiment"
    block = {
        "data": {split: str(sentiment / f"{split}.tsv") for split in SPLITS},
        "experiments": {
            "lin": {"kind": "linear"},
            "nn": {"kind": "neural", "max_len": 32, "stride": 8},
        },
        "ensembles": {"both": {"members": ["lin", "nn"]}},
        "annotate": {"run": "both", "files": {"notes": str(notes)}},
    }
    write_config(workdir, {"task": "classification", "classification": block})
    _, observed = observed_edits(workdir, tmp_path, lambda file: file == CLASSIFICATION_RULES)
    assert set(observed["changed"]["nerflow.classification.linear"]) >= {
        "classify_train_linear",
        "classify_predict",
    }
    assert "classify_validate" not in observed["changed"]["nerflow.classification.neural"]


def collect_changed_params(workdir: Path, out: Path, module_files: list[Path]) -> None:
    """(Script mode.) Snakemake's serialized params of every job of the default target's
    DAG, before and after a whitespace edit of each module in turn; writes which rules'
    params changed per module. The DAG is built as ``snakemake --list-changes`` builds it,
    and the params are serialized by the very function the params rerun trigger uses."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import Quietness
    from snakemake.settings.types import DAGSettings, OutputSettings, ResourceSettings

    def job_params() -> dict[str, tuple[str, list]]:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            workflow_api = api.workflow(
                resource_settings=ResourceSettings(cores=1),
                snakefile=workdir / "Snakefile",
                workdir=workdir,
            )
            workflow_api.dag(DAGSettings())
            workflow = workflow_api._workflow
            workflow._prepare_dag(
                forceall=False, ignore_incomplete=True, lock_warn_only=True, nolock=True
            )
            workflow._build_dag()
            return {
                f"{job.rule.name} {sorted(map(str, job.output))}": (
                    job.rule.name,
                    workflow.persistence._params(job),
                )
                for job in workflow.dag.jobs
                if job.rule.script
            }

    baseline = job_params()
    changed = {}
    for path in module_files:
        original = path.read_bytes()
        try:
            path.write_bytes(original + b"\n")
            edited = job_params()
        finally:
            path.write_bytes(original)
        assert edited.keys() == baseline.keys(), f"{path.name} changed the DAG"
        changed[module_name(path)] = sorted(
            {rule for key, (rule, params) in edited.items() if params != baseline[key][1]}
        )
    result = {
        "rules": sorted({rule for rule, _params in baseline.values()}),
        "changed": changed,
        "unchanged_after_restore": job_params() == baseline,
    }
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")


# --------------------------------------------------------------------------- other triggers


def test_nothing_to_do_after_the_run(run: Path) -> None:
    assert dry_run_jobs(run, *RUN_TARGETS) == []


def test_editing_a_module_restales_its_stages_through_snakemakes_own_trigger(run: Path) -> None:
    """End to end with the CLI: ``nerflow.features.featurizer`` (which the tokenizer stage used to
    miss)."""
    features = run / "src/nerflow/features/featurizer.py"
    original = features.read_bytes()
    try:
        features.write_bytes(original + b"\n")
        rows = summary(run, *RUN_TARGETS)
    finally:
        features.write_bytes(original)
    assert {row["rule"] for row in rows} == RUN_RULES
    scripts = {name: rule["script"] for name, rule in script_rules(run / "workflow/rules").items()}
    scripts_dir, src = run / "workflow/scripts", run / "src"
    expected = {
        rule
        for rule in RUN_RULES
        if "nerflow.features.featurizer" in modules_run_by(scripts_dir / f"{scripts[rule]}.py", src)
    }
    # pretrain_tokenizer runs the tokenizer script, which imports nerflow.features.featurizer.
    assert expected == {"pretrain_tokenizer", "tokenizer", "tensor_cache", "train", "predict"}
    assert params_changed(rows) == expected


def test_a_dev_edit_reruns_dev_and_what_reads_it_only(run: Path) -> None:
    dev = run / "data/dev.json"
    original, stat = dev.read_text(encoding="utf-8"), dev.stat()
    lines = original.splitlines(keepends=True)
    assert "魔兽世界。" in lines[1]
    edited = [lines[0], lines[1].replace("魔兽世界。", "魔兽世界！"), *lines[2:]]
    try:
        dev.write_text("".join(edited), encoding="utf-8")
        jobs = dry_run_jobs(run, *RUN_TARGETS)
    finally:
        dev.write_text(original, encoding="utf-8")
        os.utime(dev, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    validated = [job for job in jobs if job["rule"] == "validate_split"]
    assert [job["wildcards"]["split"] for job in validated] == ["dev"]
    assert "Updated input files" in validated[0]["reason"]
    rules = {job["rule"] for job in jobs}
    # Dev selects epochs (train reads it) and is predicted and scored; the train split's
    # vocabulary and tensors, the label set and the pretraining (never shown dev) stay.
    assert rules == {"validate_split", "train", "predict", "text_check", "score"}
    assert {job["wildcards"].get("split") for job in jobs if job["rule"] != "train"} == {"dev"}


def test_a_checks_option_reruns_only_the_text_checks_onwards(run: Path) -> None:
    config = run / "config/config.yaml"
    original = config.read_text(encoding="utf-8")
    try:
        write_config(run, experiment_config(run, checks={"text_mismatch_max": 3}))
        rows = summary(run, *RUN_TARGETS)
    finally:
        config.write_text(original, encoding="utf-8")
    assert params_changed(rows) == {"text_check"}
    assert {row["rule"] for row in pending(rows)} == {"text_check", "score"}
    assert {row["run"] for row in pending(rows)} == set(EXPERIMENTS)


def test_one_experiments_config_change_leaves_the_other_alone(run: Path) -> None:
    config = run / "config/config.yaml"
    original = config.read_text(encoding="utf-8")
    changed = experiment_config(run)
    changed["experiments"]["alpha"]["train"]["lr"] = 1.0e-3
    try:
        write_config(run, changed)
        rows = summary(run, *RUN_TARGETS)
    finally:
        config.write_text(original, encoding="utf-8")
    assert params_changed(rows) == {"train"}
    # Not alpha_s2 nor the tokenizer and cache it shares with alpha, not beta, not the
    # pretraining.
    assert {row["run"] for row in pending(rows)} == {"alpha"}
    assert {row["rule"] for row in pending(rows)} == {"train", "predict", "text_check", "score"}


# --------------------------------------------------------------------------- shared inputs


def input_keys(workdir: Path, run: str) -> dict[str, str]:
    """The keys of the tokenizer folder and train cache that ``run``'s training read."""
    return {name: path.parent.name for name, path in shared_inputs(workdir, run).items()}


def test_two_experiments_differing_in_their_seed_plan_one_tokenizer_and_one_cache(
    tmp_path: Path,
) -> None:
    workdir = fresh_workdir(tmp_path)
    jobs = dry_run_jobs(
        workdir, "results/alpha/dev_scores.json", "results/alpha_s2/dev_scores.json"
    )
    rules = [job["rule"] for job in jobs]
    assert rules.count("train") == 2
    assert rules.count("tokenizer") == 1 and rules.count("tensor_cache") == 1


def test_experiments_that_agree_on_their_inputs_share_them(run: Path) -> None:
    """alpha and alpha_s2 trained on one tokenizer folder and one cache; each folder's
    settings.json holds the settings of its key."""
    from nerflow.training.input_keys import input_key

    assert input_keys(run, "alpha") == input_keys(run, "alpha_s2")
    assert set(input_keys(run, "beta").values()).isdisjoint(input_keys(run, "alpha").values())
    folders = sorted((run / "results/inputs").iterdir())
    assert len(folders) == 4  # a scratch and a pretrained tokenizer, a cache of each
    for folder in folders:
        assert input_key(load_json(folder / "settings.json")) == folder.name
    settings = load_json(
        run / f"results/inputs/{input_keys(run, 'alpha')['train.pt']}/settings.json"
    )
    assert (
        settings["max_len"] == 64 and settings["tokenizer"] == input_keys(run, "alpha")["tokenizer"]
    )


def test_a_new_max_len_plans_one_new_cache_and_leaves_the_shared_one(run: Path) -> None:
    config = run / "config/config.yaml"
    original = config.read_text(encoding="utf-8")
    changed = experiment_config(run)
    changed["experiments"]["alpha_s2"]["max_len"] = 48
    try:
        write_config(run, changed)
        jobs = dry_run_jobs(run, *RUN_TARGETS)
    finally:
        config.write_text(original, encoding="utf-8")
    caches = [job for job in jobs if job["rule"] == "tensor_cache"]
    assert len(caches) == 1
    new_key = caches[0]["wildcards"]["key"]
    assert new_key not in input_keys(run, "alpha").values()
    assert "tokenizer" not in {job["rule"] for job in jobs}
    others = [job for job in jobs if job["rule"] != "tensor_cache"]
    assert {job["rule"] for job in others} == {"train", "predict", "text_check", "score"}
    assert {job["wildcards"]["run"] for job in others} == {"alpha_s2"}


def test_removing_experiments_leaves_the_others_alone(run: Path) -> None:
    config = run / "config/config.yaml"
    original = config.read_text(encoding="utf-8")
    changed = experiment_config(run)
    del changed["experiments"]["alpha_s2"], changed["experiments"]["beta"]
    try:
        write_config(run, changed)
        jobs = dry_run_jobs(run, *ALPHA_TARGETS)
    finally:
        config.write_text(original, encoding="utf-8")
    assert jobs == []


# --------------------------------------------------------------------------- determinism


def test_two_clean_runs_with_one_seed_predict_byte_identically(
    run: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second clean run of the same config in a fresh workdir: the same predictions and
    scores, byte for byte (CPU), and the same weights up to float rounding: two-thread CPU
    training repeated bit for bit here but not on every machine (1e-8 to 1e-6 apart on one,
    with MKL's dynamic threading off), so the weights are compared to 1e-5."""
    second = fresh_workdir(tmp_path_factory.mktemp("second_run"))
    snakemake(second, "--cores", "2", *ALPHA_TARGETS, snakefile=second / "Snakefile")
    compared = sorted(
        path.relative_to(second)
        for pattern in ("results/*/predictions/*.json", "results/*/*_scores.json")
        for path in second.glob(pattern)
        if not path.name.endswith(".meta.json")
    )
    assert [str(path) for path in compared] == [
        "results/alpha/dev_scores.json",
        "results/alpha/predictions/dev.json",
    ]
    for path in compared:
        assert (run / path).read_bytes() == (second / path).read_bytes(), path
    first_model = run / "results/alpha/trained/model"
    for weights in sorted(first_model.glob("*.safetensors")):
        other = second / weights.relative_to(run)
        assert weights_close(weights, other), weight_differences(weights, other)


def weights_close(first: Path, second: Path, tolerance: float = 1e-5) -> bool:
    """The same tensors in two weight files, equal to ``tolerance`` (absolute and relative)."""
    from safetensors.torch import load_file

    a, b = load_file(str(first)), load_file(str(second))
    return sorted(a) == sorted(b) and all(
        a[name].shape == b[name].shape
        and torch.allclose(a[name], b[name], rtol=tolerance, atol=tolerance)
        for name in a
    )


def weight_differences(first: Path, second: Path) -> str:
    """Which tensors of two weight files differ, and by how much (a failure message)."""
    from safetensors.torch import load_file

    a, b = load_file(str(first)), load_file(str(second))
    rows = [
        f"{name}: max |diff| {(a[name] - b[name]).abs().max().item():.3g}"
        for name in sorted(a)
        if name in b and a[name].shape == b[name].shape and not a[name].equal(b[name])
    ]
    hardware = [
        load_json(path.parents[2] / "train_summary.json")["hardware"] for path in (first, second)
    ]
    return f"{len(rows)} tensors differ ({'; '.join(rows[:6])}); hardware: {hardware}"


def test_outputs_record_their_code_and_seeds(run: Path) -> None:
    predictions = load_json(run / "results/alpha/predictions/dev.json.meta.json")
    assert predictions["seed"] == {"train": 7}
    assert "nerflow.inference.predict" in predictions["code"]["modules"]
    assert predictions["code"]["script"] == "predict.py"
    assert "code" not in predictions["params"]
    scores = load_json(run / "results/beta/dev_scores.json.meta.json")
    assert scores["seed"] == {"train": 11, "pretraining": 5}
    assert load_json(run / "results/beta/trained/model.meta.json")["seed"] == scores["seed"]
    assert load_json(run / "results/pretrain/mini/model.meta.json")["seed"] == {"pretraining": 5}
    check = load_json(run / "results/alpha/textcheck/dev.json.meta.json")
    assert {"nerflow.data.records", "nerflow.data.textcheck", "nerflow.stage"} <= set(
        check["code"]["modules"]
    )
    assert len(check["code"]["fingerprint"]) == 16
    data = load_json(run / "results/data/dev.jsonl.meta.json")
    assert "seed" not in data and data["code"]["modules"]


def test_run_seeds_of_ensembles_pretraining_and_other_jobs() -> None:
    from nerflow.stage import run_seeds

    config = {
        "pretraining": {"mini": {"seed": 5}},
        "experiments": {
            "alpha": {"encoder": "scratch", "train": {"seed": 7}},
            "beta": {"encoder": "pretrained:mini", "train": {"seed": 11}},
        },
        "ensembles": {"vote": {"members": ["alpha", "beta"]}},
    }
    assert run_seeds(config, {"run": "vote", "split": "dev"}) == {
        "members": {"alpha": {"train": 7}, "beta": {"train": 11, "pretraining": 5}}
    }
    assert run_seeds(config, {"name": "mini"}) == {"pretraining": 5}
    assert run_seeds(config, {"run": "alpha", "name": "notes"}) == {"train": 7}
    assert run_seeds(config, {"run": "oracle", "split": "dev"}) is None
    assert run_seeds(config, {"split": "dev"}) is None


if __name__ == "__main__" and sys.argv[1:2] == ["collect"]:
    collect_changed_params(Path(sys.argv[2]), Path(sys.argv[3]), [Path(p) for p in sys.argv[4:]])


def test_importing_nerflow_sets_reproducible_threading_unless_the_user_set_it() -> None:
    """MKL's dynamic threading is off for every job (the Snakefile and each script import
    the package before any matrix product); a value in the environment wins."""
    code = "import os, nerflow; print(os.environ['MKL_DYNAMIC'], os.environ['MKL_CBWR'])"
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_DYNAMIC", "MKL_CBWR")}
    env["PYTHONPATH"] = str(REPO / "src")
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert plain.stdout.split() == ["FALSE", "AUTO,STRICT"], plain.stderr
    env["MKL_CBWR"] = "AVX2"
    chosen = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert chosen.stdout.split() == ["FALSE", "AVX2"], chosen.stderr
