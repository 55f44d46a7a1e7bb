"""ThreadRunner: one worker QThread at a time, its outcome delivered on the GUI thread.

A subclass builds its thread (a QThread with a ``token`` CancelToken) and hands it to
``_launch`` with the thread signals to forward; it reports the outcome in ``_emit_outcome``,
which runs only after the thread has finished, so whoever receives the outcome never races a
live thread. ``shutdown`` (window closing) cancels and joins without reporting anything.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEventLoop, QObject, Qt, QThread, QTimer, Signal


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

    def shutdown(self) -> None:
        """Cancel and join any run without emitting its outcome (window closing)."""
        thread = self._thread
        if thread is None:
            return
        thread.token.cancel()
        thread.finished.disconnect(self._on_finished)
        thread.wait()
        self._thread = None
        self.busy_changed.emit(False)

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
