"""ThreadRunner: one worker QThread at a time, its outcome delivered on the GUI thread.

A subclass builds its thread (a QThread with a ``token`` CancelToken) and hands it to
``_launch`` with the thread signals to forward; it reports the outcome in ``_emit_outcome``,
which runs only after the thread has finished, so whoever receives the outcome never races a
live thread. ``shutdown`` (window closing) cancels and joins without reporting anything, but
never waits longer than ``SHUTDOWN_WAIT_MS``: a thread still busy after that (a stage that does
not check its token, a long C call) is left to the process exit, which ``exit_process`` makes
immediate, so quitting during a run never freezes the window.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, Qt, QThread, QTimer, Signal


SHUTDOWN_WAIT_MS = 3000
_abandoned: list[QThread] = []  # threads still running after shutdown gave up on them (kept alive)


def abandoned_threads() -> list[QThread]:
    """Worker threads that outlived a shutdown and are still running."""
    _abandoned[:] = [t for t in _abandoned if t.isRunning()]
    return list(_abandoned)


def exit_process(status: int) -> int:
    """Return ``status``, or end the process at once when an abandoned worker still runs (a normal
    interpreter exit would wait for it, or abort on destroying a running QThread)."""
    if abandoned_threads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


class ThreadRunner(QObject):
    """Start / cancel / wait / shutdown of one worker thread; subclasses add the outcome signals."""

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: Any = None  # the running QThread (with a ``token``), or None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _launch(self, thread: QThread, *forwards: tuple[Any, Any]) -> bool:
        """Start ``thread``, forwarding each (thread signal, slot or signal) pair queued to this thread."""
        for source, target in forwards:
            source.connect(target, Qt.ConnectionType.QueuedConnection)
        thread.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self._thread = thread
        self.busy_changed.emit(True)
        thread.start()
        return True

    def cancel(self) -> None:
        if self._thread is not None:
            self._thread.token.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block (processing events) until the run has finished and its outcome was emitted."""
        if self._thread is None:
            return True
        loop = QEventLoop()
        self.busy_changed.connect(loop.quit)
        if timeout_ms >= 0:
            QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()
        self.busy_changed.disconnect(loop.quit)
        return self._thread is None

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Cancel and join any run without emitting its outcome (window closing).

        Waits at most ``timeout_ms``; False when the thread was still running then (it is kept
        alive, detached, until the process ends).
        """
        thread = self._thread
        if thread is None:
            return True
        thread.token.cancel()
        thread.finished.disconnect(self._on_finished)
        joined = bool(thread.wait(max(0, int(timeout_ms))))
        if not joined:
            _abandoned.append(thread)
        self._thread = None
        self.busy_changed.emit(False)
        return joined

    def _on_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return
        thread.wait()
        self._thread = None
        self.busy_changed.emit(False)
        self._emit_outcome(thread)

    def _emit_outcome(self, thread: Any) -> None:
        """Report a finished thread's outcome (called on the GUI thread, after the thread has ended)."""
        raise NotImplementedError
