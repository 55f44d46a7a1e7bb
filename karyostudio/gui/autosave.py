"""Autosave: a debounced timer that writes the session's recovery file shortly after each change,
and at least every ``AUTOSAVE_MAX_WAIT_MS`` while changes keep coming.

Edits arrive in bursts (a vertex drag, a run of relabels), so the debounce timer restarts on
every change and writes once things settle; a second timer, started by the first unsaved change,
is never restarted, so a steady stream of edits (one a second, for minutes) is still written
every few seconds and a crash loses at most that much work. A clean session (just saved, or
undone back to the saved state) has nothing to recover, so its recovery file is removed
instead. While a session is open its recovery file is locked (QLockFile, which notices locks of
processes that died), so a second running karyostudio does not offer to "recover" work that is
still open elsewhere.

A recovery folder that cannot be used (a file, read-only, on a read-only disk, not creatable)
does not stop the application: the Autosaver is then disabled and says why in
``disabled_reason``, which the window shows as a warning.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QTimer, Signal

from karyostudio.core.document import DocumentChanged
from karyostudio.io.atomic import check_writable_folder
from karyostudio.io.errors import FormatError
from karyostudio.workspace.recovery import remove_recovery, write_recovery
from karyostudio.workspace.session import Session

RECOVERY_DIR_ENV = "KARYOSTUDIO_RECOVERY_DIR"
AUTOSAVE_DELAY_MS = 1500
AUTOSAVE_MAX_WAIT_MS = 5000
LOCK_SUFFIX = ".lock"


def recovery_dir() -> Path:
    """$KARYOSTUDIO_RECOVERY_DIR, else <application data folder>/recovery."""
    override = os.environ.get(RECOVERY_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)) / "recovery"


def recovery_dir_problem(directory: Path) -> str | None:
    """Why recovery files cannot be kept in ``directory`` (None when they can; the folder is created)."""
    try:
        check_writable_folder(directory)
    except FormatError as exc:
        source = f" (set by {RECOVERY_DIR_ENV})" if os.environ.get(RECOVERY_DIR_ENV) else ""
        return (f"Unsaved work cannot be protected by recovery files: the recovery folder "
                f"{directory}{source} is unusable ({exc.message}). karyostudio runs without recovery; "
                f"save often, or point {RECOVERY_DIR_ENV} at a writable folder.")
    return None


def recovery_in_use(path: Path) -> bool:
    """True when a running karyostudio (this one included) holds the recovery file's lock."""
    lock = QLockFile(str(path) + LOCK_SUFFIX)
    if lock.tryLock(0):  # takes over the stale lock of a process that died
        lock.unlock()
        return False
    return True


class Autosaver(QObject):
    """Keeps the recovery file of the current session up to date."""

    failed = Signal(str)  # a recovery file could not be written (disk full, no permission)

    def __init__(self, directory: Path | None = None, delay_ms: int = AUTOSAVE_DELAY_MS,
                 parent: QObject | None = None, max_wait_ms: int = AUTOSAVE_MAX_WAIT_MS):
        super().__init__(parent)
        self.directory = directory if directory is not None else recovery_dir()
        self.disabled_reason = recovery_dir_problem(self.directory)
        self._session: Session | None = None
        self._unsubscribe = None
        self._lock: QLockFile | None = None
        self._timer = QTimer(self)  # debounce: restarted by every change
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)
        self._deadline = QTimer(self)  # maximum wait: started by the first unsaved change only
        self._deadline.setSingleShot(True)
        self._deadline.setInterval(max(delay_ms, max_wait_ms))
        self._deadline.timeout.connect(self.flush)

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    def set_session(self, session: Session | None) -> None:
        """Follow a new session; the previous one's recovery file is the caller's to keep or remove."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop_timers()
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None
        self._session = session
        if session is not None and self.enabled:
            self._unsubscribe = session.document.subscribe(self._on_change)
            self._lock = self._take_lock(session)
            if session.dirty:  # e.g. a restored session: protect it at once
                self._schedule()

    def _take_lock(self, session: Session) -> QLockFile | None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.failed.emit(f"cannot create the recovery folder {self.directory}: {exc}")
            return None
        lock = QLockFile(str(self.directory / session.recovery_name) + LOCK_SUFFIX)
        return lock if lock.tryLock(0) else None

    @property
    def pending(self) -> bool:
        return self._timer.isActive() or self._deadline.isActive()

    def _on_change(self, _event: DocumentChanged) -> None:
        self._schedule()

    def _schedule(self) -> None:
        self._timer.start()
        if not self._deadline.isActive():
            self._deadline.start()

    def _stop_timers(self) -> None:
        self._timer.stop()
        self._deadline.stop()

    def flush(self) -> None:
        """Write (or remove) the recovery file now."""
        self._stop_timers()
        session = self._session
        if session is None or not self.enabled:
            return
        try:
            if session.dirty:
                write_recovery(session, self.directory)
            else:
                remove_recovery(session, self.directory)
        except (OSError, FormatError) as exc:
            self.failed.emit(f"could not write the recovery file in {self.directory}: {exc}")

    def discard(self) -> None:
        """Remove the current session's recovery file (after a clean save or a deliberate close)."""
        self._stop_timers()
        if self._session is not None and self.enabled:
            try:
                remove_recovery(self._session, self.directory)
            except OSError as exc:
                self.failed.emit(f"could not remove the recovery file in {self.directory}: {exc}")
