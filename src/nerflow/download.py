"""Fetch the CLUENER archive and extract its splits, each checked against a sha256."""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from nerflow.provenance import file_sha256


class ChecksumError(RuntimeError):
    """An extracted file does not have the expected sha256."""


def extract_members(
    archive: str | Path, outputs: Sequence[str | Path], sha256: Mapping[str, str]
) -> None:
    """Extract the member named like each output (``train.json``...) from a zip archive.

    Members are matched by file name wherever they sit in the archive. A member listed in
    ``sha256`` must match it; a missing member or a checksum mismatch raises, and nothing
    half-written is left behind.
    """
    with zipfile.ZipFile(archive) as zipped:
        members = {Path(name).name: name for name in zipped.namelist() if not name.endswith("/")}
        for output in map(Path, outputs):
            if output.name not in members:
                raise FileNotFoundError(
                    f"{archive}: no member {output.name} (members: {sorted(members)})"
                )
            output.parent.mkdir(parents=True, exist_ok=True)
            partial = output.with_name(output.name + ".partial")
            with zipped.open(members[output.name]) as source, open(partial, "wb") as target:
                shutil.copyfileobj(source, target)
            expected = sha256.get(output.name)
            actual = file_sha256(partial)
            if expected and actual != expected:
                partial.unlink()
                raise ChecksumError(
                    f"{archive}:{members[output.name]}: sha256 {actual}, expected {expected}"
                )
            partial.replace(output)


def fetch_cluener(url: str, outputs: Sequence[str | Path], sha256: Mapping[str, str]) -> None:
    """Download ``url`` (a zip; ``file://`` and plain paths work too) and extract ``outputs``."""
    if not url:
        raise ValueError("download.url is empty: set it, or point config data at local files")
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "archive.zip"
        if "://" in url:
            with urllib.request.urlopen(url, timeout=120) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        else:
            shutil.copyfile(url, archive)
        extract_members(archive, outputs, sha256)
