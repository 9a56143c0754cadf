"""Fetch the CLUENER archive and extract its splits, each checked against a sha256."""

from __future__ import annotations

import hashlib
import http.client
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from nerflow.atomic import atomic_output
from nerflow.errors import UserError

OFFLINE_HINT = (
    "point config 'data:' at a local copy of the train/dev/test files, or run the offline "
    "config (--configfile config/offline.yaml)"
)
"""What to do instead of downloading (the end of every :class:`DownloadError`)."""


class ChecksumError(RuntimeError, UserError):
    """An extracted file does not have the expected sha256."""


class DownloadError(RuntimeError, UserError):
    """The archive could not be fetched; the message is ONE line: what could not be
    reached, why, and what to do instead (:data:`OFFLINE_HINT`)."""


def extract_members(
    archive: str | Path, outputs: Sequence[str | Path], sha256: Mapping[str, str]
) -> None:
    """Extract the member named like each output (``train.json``...) from a zip archive.

    Members are matched by file name wherever they sit in the archive. A member listed in
    ``sha256`` must match it; a missing member or a checksum mismatch raises, and nothing
    half-written is left behind (each output is written to a temporary file and renamed).
    """
    with zipfile.ZipFile(archive) as zipped:
        members = {Path(name).name: name for name in zipped.namelist() if not name.endswith("/")}
        for output in map(Path, outputs):
            if output.name not in members:
                raise FileNotFoundError(
                    f"{archive}: no member {output.name} (members: {sorted(members)})"
                )
            output.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with zipped.open(members[output.name]) as source, atomic_output(output, "wb") as out:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
                expected = sha256.get(output.name)
                if expected and digest.hexdigest() != expected:
                    raise ChecksumError(
                        f"{archive}:{members[output.name]}: sha256 {digest.hexdigest()}, "
                        f"expected {expected}"
                    )


def _reason(error: BaseException) -> str:
    """The cause of a failed fetch, on one line."""
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        text = str(error.reason)
    else:
        text = str(error)
    return " ".join(text.split()) or type(error).__name__


def fetch_cluener(url: str, outputs: Sequence[str | Path], sha256: Mapping[str, str]) -> None:
    """Download ``url`` (a zip; ``file://`` and plain paths work too) and extract ``outputs``.

    No network, an unknown host, an HTTP error or a missing local archive raise
    :class:`DownloadError` with one line saying what could not be reached and what to do
    instead. The archive is fetched next to the first output (not into ``/tmp``).
    """
    if not url:
        raise DownloadError(f"download.url is empty: set it, or {OFFLINE_HINT}")
    scratch_dir = Path(outputs[0]).parent if outputs else None
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_dir, prefix=".download") as scratch:
        archive = Path(scratch) / "archive.zip"
        if "://" in url:
            _fetch_url(url, archive)
        else:
            try:
                shutil.copyfile(url, archive)
            except FileNotFoundError:
                raise DownloadError(f"cannot read {url}: no such file; {OFFLINE_HINT}") from None
        try:
            extract_members(archive, outputs, sha256)
        except zipfile.BadZipFile as error:
            raise DownloadError(f"{url} is not a zip archive ({error}); {OFFLINE_HINT}") from None


def _fetch_url(url: str, archive: Path) -> None:
    """Copy ``url`` into ``archive``; network failures become :class:`DownloadError`
    (failures to WRITE ``archive`` stay ``OSError``s naming it)."""
    try:
        response = urllib.request.urlopen(url, timeout=120)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        what = "cannot download" if isinstance(error, urllib.error.HTTPError) else "cannot reach"
        raise DownloadError(f"{what} {url}: {_reason(error)}; {OFFLINE_HINT}") from None
    with response, atomic_output(archive, "wb") as out:
        while True:
            try:
                chunk = response.read(1 << 20)
            except (http.client.HTTPException, OSError) as error:
                raise DownloadError(
                    f"download of {url} broke off: {_reason(error)}; {OFFLINE_HINT}"
                ) from None
            if not chunk:
                break
            out.write(chunk)
