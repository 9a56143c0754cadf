"""Provenance of stage outputs: code fingerprints and ``.meta.json`` sidecars.

Snakemake re-runs a ``script:`` rule when the script changes, but it does not see the
package code the script imports. ``code_fingerprint`` hashes the source of a module and
of every ``nerflow`` module it imports (transitively, found by parsing the source, not
by importing it), so a rule that puts ``code_fingerprint("nerflow.x")`` in its
``params`` becomes stale exactly when that code changes.
"""

from __future__ import annotations

import ast
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
    "pandas",
    "jsonschema",
)


def module_path(module: str) -> Path:
    """Source file of a ``nerflow`` module name such as ``nerflow.tagging``."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        raise ValueError(f"not a {PACKAGE} module: {module}")
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    raise FileNotFoundError(f"no source for module {module} under {PACKAGE_DIR}")


def _imported_package_modules(module: str, source: str) -> set[str]:
    """Names of ``nerflow`` modules imported by ``source`` (absolute or relative imports)."""
    package_parts = module.split(".")
    if not module_path(module).name == "__init__.py":
        package_parts = package_parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
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
                    module_path(name)
                except FileNotFoundError:
                    continue  # ``from nerflow.x import function``: the function, not a module
                found.add(name)
    return found


def module_closure(*modules: str) -> list[str]:
    """The given ``nerflow`` modules plus every ``nerflow`` module they import, sorted."""
    seen: set[str] = set()
    pending = list(modules)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        source = module_path(module).read_text(encoding="utf-8")
        pending.extend(_imported_package_modules(module, source) - seen)
    return sorted(seen)


def code_fingerprint(*modules: str) -> str:
    """sha256 (16 hex digits) over the source of ``modules`` and their ``nerflow`` imports."""
    digest = hashlib.sha256()
    for module in module_closure(*modules):
        digest.update(module.encode())
        digest.update(module_path(module).read_bytes())
    return digest.hexdigest()[:16]


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
) -> dict:
    """The provenance block of a stage output."""
    module_list = list(modules)
    return {
        "stage": stage,
        "params": {key: _jsonable(value) for key, value in params.items()},
        "code": {
            "fingerprint": code_fingerprint(*module_list) if module_list else None,
            "modules": module_closure(*module_list) if module_list else [],
            "nerflow_version": _nerflow_version(),
        },
        "inputs": {str(path): path_sha256(path) for path in inputs if Path(path).exists()},
        "libraries": library_versions(),
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


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
