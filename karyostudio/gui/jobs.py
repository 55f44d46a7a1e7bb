"""Long jobs other than model runs (training, evaluation) on a worker thread.

A JobThread calls ``work(post, cancel)`` off the GUI thread. ``post(kind, payload)`` sends a
message to the GUI thread (queued signal), so the job can report losses, metrics or progress
without touching widgets. A failure is classified in the thread (run_errors.classify); the
outcome (result, RunError or cancelled) is read only after the thread has finished, as in
workers.ModelRunner.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal

from karyostudio.core.progress import CancelToken
from karyostudio.gui.run_errors import ErrorKind, RunError, classify
from karyostudio.gui.thread_runner import ThreadRunner

Post = Callable[[str, Any], None]
Work = Callable[[Post, CancelToken], Any]


class JobThread(QThread):
    posted = Signal(str, object)

    def __init__(self, work: Work, token: CancelToken):
        super().__init__()
        self._work = work
        self.token = token
        self.result: Any = None
        self.error: RunError | None = None  # a cancelled job ends with kind CANCELLED

    def run(self) -> None:
        try:
            self.result = self._work(self.posted.emit, self.token)
        except Exception as exc:  # shown to the user; the traceback goes to the console
            self.error = classify(exc)
            if self.error.kind is not ErrorKind.CANCELLED:
                traceback.print_exc()


class JobRunner(ThreadRunner):
    """One job at a time; its messages and outcome arrive on the GUI thread."""

    message = Signal(str, object)  # kind, payload (from the job's post)
    succeeded = Signal(object)
    failed = Signal(object)  # RunError
    cancelled = Signal()

    def start(self, work: Work) -> bool:
        if self._thread is not None:
            return False
        thread = JobThread(work, CancelToken())
        return self._launch(thread, (thread.posted, self.message))

    def _emit_outcome(self, thread: JobThread) -> None:
        if thread.error is None:
            self.succeeded.emit(thread.result)
        elif thread.error.kind is ErrorKind.CANCELLED:
            self.cancelled.emit()
        else:
            self.failed.emit(thread.error)
