"""Model runs off the GUI thread.

A PredictThread loads the predictor (the first load imports torch and reads weights) and
calls predictor.predict(image, progress=..., cancel=token). Progress is throttled and queued
to the GUI thread; a failure is classified in the thread (run_errors.classify) while the
exception is still at hand. The outcome is read by ModelRunner only after the thread has
finished, so whoever receives ``succeeded`` / ``failed`` / ``cancelled`` never races a live thread.
"""

from __future__ import annotations

import time
import traceback

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken
from karyostudio.gui.predictors import PredictorLoader, default_loader
from karyostudio.gui.run_errors import ErrorKind, RunError, classify
from karyostudio.gui.run_request import RunRequest
from karyostudio.gui.thread_runner import ThreadRunner

_PROGRESS_INTERVAL_S = 0.05


class PredictThread(QThread):
    progressed = Signal(int, int, str)

    def __init__(self, loader: PredictorLoader, request: RunRequest, image: np.ndarray, token: CancelToken):
        super().__init__()
        self._loader = loader
        self.request = request
        self._image = image
        self.token = token
        self.instances: list[Instance] | None = None
        self.error: RunError | None = None  # a cancelled run ends with kind CANCELLED
        self._last_progress = 0.0

    def run(self) -> None:
        try:
            self.progressed.emit(0, 0, f"loading model {self.request.label}")
            predictor = self._loader(self.request)
            self.token.raise_if_cancelled()
            with self.token.interruptible():  # Cancel returns even from a stage that never checks
                instances = list(predictor.predict(self._image, progress=self._progress, cancel=self.token))
            self.token.raise_if_cancelled()  # cancelled while the last stage finished: still cancelled
            self.instances = instances
        except Exception as exc:  # the GUI shows any failure of a model in a dialog
            self.error = classify(exc)
            if self.error.kind is not ErrorKind.CANCELLED:
                traceback.print_exc()

    def _progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= _PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progressed.emit(int(done), int(total), str(message))


class ModelRunner(ThreadRunner):
    """Runs one model at a time; Cancel sets the token and the thread stops at its next check."""

    progress = Signal(int, int, str)
    succeeded = Signal(object, object)  # list[Instance], RunRequest
    failed = Signal(object)  # RunError
    cancelled = Signal()

    def __init__(self, loader: PredictorLoader = default_loader, parent: QObject | None = None):
        super().__init__(parent)
        self._loader = loader

    def start(self, request: RunRequest, image: np.ndarray) -> bool:
        """Start a run; False when one is already running."""
        if self._thread is not None:
            return False
        thread = PredictThread(self._loader, request, image, CancelToken())
        return self._launch(thread, (thread.progressed, self.progress))

    def _emit_outcome(self, thread: PredictThread) -> None:
        if thread.error is None:
            self.succeeded.emit(thread.instances, thread.request)
        elif thread.error.kind is ErrorKind.CANCELLED:
            self.cancelled.emit()
        else:
            self.failed.emit(thread.error)
