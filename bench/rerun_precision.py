"""Rerun precision: after a complete run of the offline DAG, the exact jobs each edit reruns.

Issue 10, item 4 (second bullet). A full offline run takes 48 minutes, so the run here is
made cheap while keeping the offline configuration's DAG: a copy of the workflow
(Snakefile, workflow/, profiles/, src/ and config/config.yaml) in ``--work``, a sample of
``--train``/``--dev``/``--test`` records of each split of ``--data``, and
``config/offline.yaml`` with the data pointed at the sample and each experiment's
``epochs`` set to 1 and ``max_minutes`` to ``--max-minutes`` (the same experiments,
ensembles, features, model sizes and runs). ``snakemake --cores N`` runs it to the end.

Then each edit is applied in turn, the jobs ``snakemake -n`` plans are collected, and the
edit is reverted (bytes and modification time):

- a scoring option: ``checks.text_mismatch_max`` 0 -> 1, the gate of the text check that
  scoring reads (the ``score`` rule has no option of its own);
- one experiment's learning rate (``--experiment``, a member of the vote by default);
- the tagging module ``src/nerflow/text/tagging.py``: a whitespace edit;
- one line of ``dev.json``: its text gets one more character at the end.

The expected jobs are derived, not listed: the jobs the edit touches directly (the rules
whose params read the option; the experiment's ``train`` job; the rules whose scripts
import the module, found by ``modulefinder``; the jobs that read the edited file) and every
job downstream of them in the DAG of a ``--forceall`` dry run. Each edit is OK when the
planned jobs are exactly those, and nothing is planned once it is reverted. Also timed:
``snakemake -n`` on the complete work dir (``--repeat`` times).

    python bench/rerun_precision.py                 # CLUENER sample, about 5 minutes
    python bench/rerun_precision.py --reuse         # the edits again on the last run

Writes ``results/bench/rerun_precision.json`` (``--json-out``) and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from benchutil import RESULTS, ROOT, SHARED, median, write_result
from benchutil import table as markdown
from dryrun import downstream, job_name, modules_run_by, parse_dry_run, script_rules

sys.path.insert(0, str(ROOT / "tests"))
from workflow_helpers import copy_workflow, snakemake_command  # noqa: E402

SPLITS = ("train", "dev", "test")
CONFIG = "config/bench.yaml"
SCORING_OPTION = ("checks", "text_mismatch_max")
MODULE = "src/nerflow/text/tagging.py"


@dataclass(frozen=True)
class Edit:
    """One edit of the work dir: ``change`` maps the text of ``path`` to the edited text;
    ``roots`` gives the jobs it touches directly (names of :func:`dryrun.job_name`), from
    the jobs of the whole DAG and the work dir."""

    name: str
    what: str
    path: str
    change: Callable[[str], str]
    roots: Callable[[list[dict], Path], set[str]]


# --------------------------------------------------------------------------- the work dir


def sample_lines(path: Path, n: int, seed: int) -> list[str]:
    """``n`` non-empty lines of ``path`` drawn with ``seed``, in file order (all when ``n``
    is 0 or the file has fewer). Every entity type of the file keeps a record in the
    sample, beyond ``n`` if need be (the label set that train fixes, and that dev must keep
    to, stays whole)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if n <= 0 or n >= len(lines):
        return lines
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    first_of_type: dict[str, int] = {}
    for index in order:
        for kind in json.loads(lines[index]).get("label") or {}:
            first_of_type.setdefault(kind, index)
    chosen = dict.fromkeys(first_of_type.values())
    for index in order:
        if len(chosen) >= n:
            break
        chosen.setdefault(index)
    return [lines[index] for index in sorted(chosen)]


def cheap_config(offline: dict, data: dict[str, str], max_minutes: float) -> dict:
    """``offline`` reading ``data``, every experiment trained for one epoch of at most
    ``max_minutes``; experiments, ensembles and runs unchanged (the same DAG)."""
    config = json.loads(json.dumps(offline))
    config["data"] = dict(data)
    for experiment in config["experiments"].values():
        experiment["train"] = {**experiment["train"], "epochs": 1, "max_minutes": max_minutes}
    return config


def prepare(work: Path, data: Path, sizes: dict[str, int], seed: int, minutes: float) -> None:
    """A fresh work dir: the workflow, the sampled data and ``config/bench.yaml``."""
    if work.exists():
        shutil.rmtree(work)
    copy_workflow(work)
    (work / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", work / "config" / "config.yaml")
    (work / "data").mkdir()
    paths = {}
    for split in SPLITS:
        lines = sample_lines(data / f"{split}.json", sizes[split], seed)
        paths[split] = str((work / "data" / f"{split}.json").resolve())
        Path(paths[split]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    offline = yaml.safe_load((ROOT / "config" / "offline.yaml").read_text(encoding="utf-8"))
    config = cheap_config(offline, paths, minutes)
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    (work / CONFIG).write_text(text, encoding="utf-8")


def snakemake(work: Path, *args: str) -> str:
    """Run Snakemake in ``work`` with the bench config; its output (stdout and stderr)."""
    command = snakemake_command(work, *args, "--configfile", CONFIG, snakefile=work / "Snakefile")
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    output = done.stdout + "\n" + done.stderr
    if done.returncode:
        raise SystemExit(f"snakemake {' '.join(args)} failed in {work}:\n{output[-6000:]}")
    return output


def planned(work: Path, *args: str) -> list[dict]:
    """The jobs a dry run plans (``rule all`` left out)."""
    return [job for job in parse_dry_run(snakemake(work, "-n", *args)) if job["rule"] != "all"]


# --------------------------------------------------------------------------- the edits


@contextlib.contextmanager
def edited(path: Path, change: Callable[[str], str]) -> Iterator[None]:
    """``path`` changed by ``change`` inside the block; its bytes and times restored after."""
    original, stat = path.read_bytes(), path.stat()
    try:
        path.write_text(change(original.decode("utf-8")), encoding="utf-8")
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def yaml_edit(keys: tuple[str, ...], update: Callable[[Any], Any]) -> Callable[[str], str]:
    """A change of a YAML file: the value at ``keys`` replaced by ``update(value)``."""

    def change(text: str) -> str:
        config = yaml.safe_load(text)
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = update(node.get(keys[-1]))
        return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)

    return change


def longer_first_text(text: str) -> str:
    """A JSON-lines text whose first record's text has one more character (its spans,
    counted from the start, stay valid)."""
    first, _, rest = text.partition("\n")
    record = json.loads(first)
    record["text"] += "。"
    return json.dumps(record, ensure_ascii=False) + "\n" + rest


def jobs_of(jobs: list[dict], keep: Callable[[dict], bool]) -> set[str]:
    return {job_name(job) for job in jobs if keep(job)}


def rules_reading(needle: str) -> Callable[[list[dict], Path], set[str]]:
    """Roots: the jobs of the rules whose own lines contain ``needle``."""

    def roots(jobs: list[dict], work: Path) -> set[str]:
        found = script_rules(work / "workflow/rules").items()
        rules = {name for name, rule in found if needle in rule["body"]}
        return jobs_of(jobs, lambda job: job["rule"] in rules)

    return roots


def rules_running(module: str) -> Callable[[list[dict], Path], set[str]]:
    """Roots: the jobs of the rules whose scripts import ``module`` (at any depth)."""

    def roots(jobs: list[dict], work: Path) -> set[str]:
        src = work / "src"
        scripts = work / "workflow/scripts"
        rules = {
            name
            for name, rule in script_rules(work / "workflow/rules").items()
            if rule["script"] and module in modules_run_by(scripts / f"{rule['script']}.py", src)
        }
        return jobs_of(jobs, lambda job: job["rule"] in rules)

    return roots


def readers_of(path: str) -> Callable[[list[dict], Path], set[str]]:
    """Roots: the jobs that read the file ``path`` (relative to the work dir)."""

    def roots(jobs: list[dict], work: Path) -> set[str]:
        wanted = {path, str((work / path).resolve())}
        return jobs_of(jobs, lambda job: bool(wanted & set(job["input"])))

    return roots


def the_edits(experiment: str) -> list[Edit]:
    """The four edits of issue 10, the learning rate being ``experiment``'s."""
    option = ".".join(SCORING_OPTION)
    train_job = f"train[run={experiment}]"
    return [
        Edit(
            "scoring option",
            f"{option} 0 -> 1",
            CONFIG,
            yaml_edit(SCORING_OPTION, lambda value: (value or 0) + 1),
            rules_reading(f'CHECKS["{SCORING_OPTION[1]}"]'),
        ),
        Edit(
            "learning rate",
            f"experiments.{experiment}.train.lr x 2",
            CONFIG,
            yaml_edit(("experiments", experiment, "train", "lr"), lambda value: 2 * value),
            # The train block is a param of the train rule; the other rules that show an
            # experiment's settings (model card, leaderboard) are downstream of it.
            lambda jobs, work: jobs_of(jobs, lambda job: job_name(job) == train_job),
        ),
        Edit(
            "tagging module",
            f"{MODULE}: one more newline",
            MODULE,
            lambda text: text + "\n",
            rules_running("nerflow.text.tagging"),
        ),
        Edit(
            "dev.json line",
            "data/dev.json: line 1's text one character longer",
            "data/dev.json",
            longer_first_text,
            readers_of("data/dev.json"),
        ),
    ]


# --------------------------------------------------------------------------- measuring


def measure(edit: Edit, work: Path, dag: list[dict]) -> dict[str, Any]:
    """The jobs ``snakemake -n`` plans with ``edit`` applied, against those expected."""
    expected = downstream(dag, edit.roots(dag, work)) - {"all"}
    with edited(work / edit.path, edit.change):
        start = time.perf_counter()
        jobs = planned(work)
        seconds = time.perf_counter() - start
    observed = {job_name(job) for job in jobs}
    leftover = [job_name(job) for job in planned(work)]
    missing, extra = sorted(expected - observed), sorted(observed - expected)
    return {
        "edit": edit.name,
        "what": edit.what,
        "status": "UNEXPECTED" if missing or extra or leftover else "OK",
        "rules": dict(Counter(job["rule"] for job in jobs)),
        "expected_rules": dict(Counter(name.split("[")[0] for name in sorted(expected))),
        "jobs": sorted(observed),
        "missing": missing,
        "extra": extra,
        "planned_after_revert": leftover,
        "dry_run_s": round(seconds, 3),
        "reasons": {job_name(job): job.get("reason", "")[:300] for job in jobs},
    }


def counts(rules: dict[str, int]) -> str:
    return ", ".join(f"{rule} {n}" for rule, n in rules.items()) or "nothing"


def report(edits: list[dict], dag_jobs: int) -> str:
    rows = [
        [e["edit"], e["what"], len(e["jobs"]), sum(e["expected_rules"].values()), e["status"]]
        + [counts(e["rules"])]
        for e in edits
    ]
    header = ["edit", "change", "jobs planned", "expected", "status", f"rules (of {dag_jobs} jobs)"]
    lines = [markdown(header, rows)]
    for e in edits:
        for key in ("missing", "extra", "planned_after_revert"):
            if e[key]:
                lines.append(f"{e['edit']}: {key}: {', '.join(e[key])}")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "cluener")
    for split, n in (("train", 120), ("dev", 40), ("test", 40)):
        parser.add_argument(f"--{split}", type=int, default=n, help=f"{split} records (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="of the record sample")
    parser.add_argument("--max-minutes", type=float, default=1.0, help="per training")
    parser.add_argument("--experiment", default="bilstm_gaz_crf_s1", help="whose lr is edited")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="timed dry runs")
    parser.add_argument("--work", type=Path, default=RESULTS / "rerun_precision_work")
    parser.add_argument("--reuse", action="store_true", help="keep --work as it is")
    parser.add_argument("--json-out", type=Path, default=RESULTS / "rerun_precision.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    work = args.work.resolve()
    if not args.reuse:
        sizes = {split: getattr(args, split) for split in SPLITS}
        prepare(work, args.data.resolve(), sizes, args.seed, args.max_minutes)
    elif not (work / CONFIG).is_file():
        raise SystemExit(f"--reuse: no {CONFIG} in {work}")
    print(f"[bench] complete run in {work}", file=sys.stderr)
    start = time.perf_counter()
    snakemake(work, "--cores", str(args.cores))
    run_s = time.perf_counter() - start
    dag = planned(work, "--forceall")
    if f"train[run={args.experiment}]" not in {job_name(job) for job in dag}:
        raise SystemExit(f"--experiment {args.experiment}: no such experiment runs here")
    left = planned(work)
    timings = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        planned(work)
        timings.append(time.perf_counter() - start)
    results = [measure(edit, work, dag) for edit in the_edits(args.experiment)]
    text = report(results, len(dag))
    dry = f"snakemake -n on the complete work dir ({len(dag)} jobs, {len(left)} planned): "
    dry += f"median {median(timings):.2f} s of {args.repeat}"
    print(text)
    print(dry)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    out = write_result(
        args.json_out,
        {
            "settings": settings,
            "complete_run_s": round(run_s, 1),
            "dag_jobs": len(dag),
            "dag_rules": dict(Counter(job["rule"] for job in dag)),
            "planned_after_run": [job_name(job) for job in left],
            "dry_run_s": {
                "median": round(median(timings), 3),
                "runs": [round(s, 3) for s in timings],
            },
            "edits": results,
            "ok": all(result["status"] == "OK" for result in results) and not left,
            "table": text + "\n" + dry,
            "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
