"""Atomic file writes: write to a temporary file beside the target, fsync, then os.replace.

A crash or error mid-write leaves the previous file intact and no partial file behind. A
process killed mid-write (kill -9, power loss) can still leave its temporary file, so temporary
names carry the writer's process id (``.NAME.PID-XXXXXXXX.tmp``) and ``remove_stale_temp_files``
removes those of writers that are gone, when the next run writes into that folder.

A target that exists but is write-protected (no owner write bit, or not writable for this
process) is refused rather than replaced: os.replace would swap a read-only file silently, since
replacing needs only the folder's permission. Every failure is a FileWriteError (also an
OSError) naming the target and the reason in one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator

from karyostudio.io.errors import FileWriteError

TEMP_SUFFIX = ".tmp"
# Temporary files of crashed writers older than this are removed even when their process id is
# reused (or was written by another machine sharing the folder); legacy names (no id) likewise.
STALE_TEMP_AGE_S = 600.0
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?:(?P<pid>\d+)-)?[a-z0-9_]{8}\.tmp$")


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing that replaces ``path`` only if the block succeeds."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open supports modes 'w' and 'wb'")
    path = Path(path)
    check_replaceable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None) as handle:
            try:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise _write_error(path, exc) from exc
        try:
            os.chmod(tmp, _target_mode(path))
            os.replace(tmp, path)
        except OSError as exc:
            raise _write_error(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_replaceable(path: str | Path) -> None:
    """Raise FileWriteError when ``path`` exists and must not be replaced (write-protected, a folder)."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _write_error(path, exc) from exc
    if stat.S_ISDIR(info.st_mode):
        raise FileWriteError(path, "is a folder, not a file; choose a file name")
    if not info.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise FileWriteError(path, "the file is write-protected (read-only); it was left unchanged. "
                                   "Make it writable or choose another name")


def check_writable_folder(folder: str | Path) -> None:
    """Raise FileWriteError unless files can be created in ``folder`` (created when missing).

    Checks the permission bits and then really creates (and removes) a temporary file, so a
    read-only file system or a folder of another user is caught before any work is done.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileWriteError(folder, "is a file, not a folder")
    if not folder.exists():
        ancestor = next((p for p in folder.absolute().parents if p.exists()), None)
        if ancestor is not None and ancestor.is_dir() and not _writable(ancestor):
            raise FileWriteError(folder, f"cannot create the folder: {ancestor} is write-protected (read-only)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(folder, exc, what="cannot create the folder") from exc
    if not folder.is_dir():
        raise FileWriteError(folder, "is not a folder")
    if not _writable(folder):
        raise FileWriteError(folder, "the folder is write-protected (read-only); nothing can be written into it")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".write-probe.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise _write_error(folder, exc, what="cannot write into the folder") from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _writable(folder: Path) -> bool:
    """The owner may write (mode bits, which hold for root too) and this process may (os.access)."""
    return bool(folder.stat().st_mode & stat.S_IWUSR) and os.access(folder, os.W_OK | os.X_OK)


def remove_stale_temp_files(folder: str | Path, *, now: float | None = None, depth: int = 0) -> list[Path]:
    """Remove temporary files of our own pattern left in ``folder`` by writers that were killed.

    A file is stale when its writer's process is gone, or when it has not changed for
    STALE_TEMP_AGE_S (a reused process id, another machine, a name without a process id).
    ``depth`` > 0 also cleans subfolders that deep (a training run's checkpoints and export).
    Returns the removed files; files that cannot be removed are left alone.
    """
    folder = Path(folder)
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if depth > 0 and entry.is_dir(follow_symlinks=False):
            removed += remove_stale_temp_files(entry.path, now=now, depth=depth - 1)
            continue
        match = _TEMP_NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = int(match["pid"]) if match["pid"] else None
        if pid == os.getpid():
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if (pid is not None and not _process_alive(pid)) or age > STALE_TEMP_AGE_S:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or we cannot tell: keep its file
    return True


def _write_error(path: Path, exc: OSError, what: str = "cannot write") -> FileWriteError:
    reasons = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EDQUOT: "the disk quota is exhausted"}
    if isinstance(exc, FileWriteError):
        return exc
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    error = FileWriteError(path, f"{what}: {reason}")
    error.errno = exc.errno
    return error


def _target_mode(path: Path) -> int:
    """Keep an existing file's permissions; new files get the usual 0666 & ~umask (mkstemp uses 0600)."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)
