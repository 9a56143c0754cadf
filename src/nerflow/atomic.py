"""Safe writes: files and folders appear whole or not at all.

Every writer goes through a temporary name beside its target and is renamed into place
on success, so a full disk, an unwritable folder or a killed job never leaves a
half-written output (a previous version stays as it was), and the error names the
output and the free space left (:class:`WriteError`).
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from nerflow.errors import UserError


@contextmanager
def atomic_output(path: str | Path, mode: str = "w") -> Iterator[Any]:
    """Open ``path`` for writing through a temporary file beside it, renamed into place
    on success and removed on failure: no half-written file is ever left under ``path``
    (a previous version stays as it was). A failure to write (full disk, read-only or
    missing folder) raises an ``OSError`` naming ``path`` (see :func:`write_error`)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
    encoding = None if "b" in mode else "utf-8"
    remove_stale_temporaries(target)
    try:
        with open(temporary, mode, encoding=encoding) as handle:
            yield handle
        os.replace(temporary, target)
    except WriteError:
        raise
    except OSError as error:
        if error.filename is not None and str(error.filename) not in (str(temporary), str(target)):
            raise  # about another file (an input read while writing): as it is
        raise write_error(target, error) from error
    finally:
        with suppress(OSError):  # nothing to remove where nothing could be created
            temporary.unlink(missing_ok=True)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` to fill; on success it is renamed to
    ``path`` (replacing a previous folder there), on failure removed, so ``path`` never
    holds a half-written folder. An ``OSError`` writing it is raised naming ``path``."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
    previous = target.with_name(f".{target.name}.old{os.getpid()}")
    remove_stale_temporaries(target)
    try:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        yield temporary
        if target.exists():
            os.replace(target, previous)
        try:
            os.replace(temporary, target)
        except OSError:
            if previous.exists():
                os.replace(previous, target)
            raise
    except WriteError:
        raise
    except OSError as error:
        name = str(error.filename or "")
        if name and not name.startswith(str(temporary)) and name != str(target):
            raise  # about another file (an input read while writing): as it is
        raise write_error(target, error) from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        if target.exists():
            shutil.rmtree(previous, ignore_errors=True)


@contextmanager
def atomic_model_folder(path: str | Path) -> Iterator[Path]:
    """:func:`atomic_directory` for folders written by torch, safetensors or transformers
    savers (parent folders created), which report a failed write as ``RuntimeError`` or
    ``SafetensorError``: those become a :class:`WriteError` naming ``path`` too."""
    from safetensors import SafetensorError

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(target, error) from error
    try:
        with atomic_directory(target) as folder:
            yield folder
    except (RuntimeError, SafetensorError) as error:
        raise write_error(target, error) from error


def remove_stale_temporaries(target: str | Path) -> None:
    """Clean up after writers of ``target`` that were killed (their process is gone): remove
    their temporary ``.NAME.tmpPID``; put back a previous folder ``.NAME.oldPID`` that one
    moved aside just before it died, when nothing has taken its place since."""
    target = Path(target)
    with suppress(OSError):
        for stale in sorted(target.parent.glob(f".{glob.escape(target.name)}.*")):
            rest = stale.name[len(target.name) + 2 :]  # ".NAME." + kind + pid
            kind, pid = rest[:3], rest[3:]
            if kind not in ("tmp", "old") or not pid.isdigit() or _alive(int(pid)):
                continue
            if kind == "old" and not target.exists():
                os.replace(stale, target)
            elif stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def save_torch(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary file renamed into place: a full disk or an
    unwritable folder leaves no half-written file at ``path`` (a previous version stays)
    and raises :class:`~nerflow.atomic.WriteError` naming ``path`` and the cause (torch
    reports a failed write as a bare ``RuntimeError``; the ``OSError`` behind it is kept)."""
    import torch

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(target, error) from error
    with atomic_output(target, "wb") as handle:
        writer = _Writer(handle)
        try:
            torch.save(obj, writer)
        except RuntimeError as error:
            cause = writer.error or error
            raise write_error(target, cause) from cause


class _Writer:
    """A binary file whose ``write`` remembers the ``OSError`` it raised."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


class WriteError(OSError, UserError):
    """An output could not be written; the message names it (see :func:`write_error`)."""


def write_error(target: str | Path, error: BaseException) -> WriteError:
    """A :class:`WriteError` (same errno as ``error``) saying which output could not be
    written, why, and the free space left on its disk."""
    if isinstance(error, WriteError):
        return error
    code = getattr(error, "errno", None)
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    folder = Path(target).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free on its disk"
    except OSError:
        free = "free space unknown"
    message = f"cannot write {target}: {reason} ({free}; nothing half-written left there)"
    return WriteError(code, message) if code else WriteError(message)


def normal_mode(path: str | Path) -> None:
    """Give a file the mode of one made by ``open`` (0666 less the umask): some writers
    (safetensors) make theirs readable by their owner only."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
