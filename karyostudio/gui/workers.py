"""Model runs off the GUI thread.

A PredictThread loads the predictor (the first load imports torch and reads weights) and
calls predictor.predict(image, progress=..., cancel=token). Progress is throttled and queued
to the GUI thread; the outcome is read by ModelRunner only after the thread has finished, so
whoever receives ``succeeded`` / ``failed`` / ``cancelled`` never races a live thread.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.gui.thread_runner import ThreadRunner
from karyostudio.models.base import Predictor

PredictorLoader = Callable[[str], Predictor]
_PROGRESS_INTERVAL_S = 0.05


DEVICE_MARK = "@device:"  # ends a run name that asks for a device (see model_control's run names)


def split_device(name: str) -> tuple[str, str]:
    """(the rest, device) of a run name "...[@device:DEVICE]"; the CPU when it names none."""
    rest, _, device = name.partition(DEVICE_MARK)
    return rest, device or "cpu"


def with_device(name: str, device: str) -> str:
    """The run name that loads ``name`` on ``device`` (the inverse of split_device)."""
    return name if device == "cpu" else f"{name}{DEVICE_MARK}{device}"


def default_loader(name: str) -> Predictor:
    """Load "MODEL" on the CPU, or "MODEL@device:DEVICE" on DEVICE."""
    from karyostudio.models.registry import load_predictor  # imports the model family lazily

    return load_predictor(*split_device(name))


def is_gpu_failure(message: str) -> bool:
    """True for a run that failed because of the GPU (out of memory, CUDA missing), not the model."""
    lowered = message.lower()
    return ("outofmemoryerror" in lowered or "out of memory" in lowered
            or "deviceunavailableerror" in lowered or "cuda" in lowered and "not available" in lowered)


class CachingLoader:
    """Loads each model once; safe to call from worker threads."""

    def __init__(self, loader: PredictorLoader = default_loader):
        self._loader = loader
        self._cache: dict[str, Predictor] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Predictor:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._loader(name)
            return self._cache[name]


class PredictThread(QThread):
    progressed = Signal(int, int, str)

    def __init__(self, loader: PredictorLoader, model_name: str, image: np.ndarray, token: CancelToken):
        super().__init__()
        self._loader = loader
        self.model_name = model_name
        self._image = image
        self.token = token
        self.instances: list[Instance] | None = None
        self.error: str | None = None
        self._last_progress = 0.0

    def run(self) -> None:
        try:
            self.progressed.emit(0, 0, f"loading model {self.model_name}")
            predictor = self._loader(self.model_name)
            self.token.raise_if_cancelled()
            with self.token.interruptible():  # Cancel returns even from a stage that never checks
                instances = list(predictor.predict(self._image, progress=self._progress, cancel=self.token))
            self.token.raise_if_cancelled()  # cancelled while the last stage finished: still cancelled
            self.instances = instances
        except Cancelled:
            self.instances = None
        except Exception as exc:  # the GUI shows any failure of a model in a dialog
            self.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()

    def _progress(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= _PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progressed.emit(int(done), int(total), str(message))


class ModelRunner(ThreadRunner):
    """Runs one model at a time; Cancel sets the token and the thread stops at its next check."""

    progress = Signal(int, int, str)
    succeeded = Signal(object, str)  # list[Instance], model name
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, loader: PredictorLoader = default_loader, parent: QObject | None = None):
        super().__init__(parent)
        self._loader = CachingLoader(loader)

    def start(self, model_name: str, image: np.ndarray) -> bool:
        """Start a run; False when one is already running."""
        if self._thread is not None:
            return False
        thread = PredictThread(self._loader, model_name, image, CancelToken())
        return self._launch(thread, (thread.progressed, self.progress))

    def _emit_outcome(self, thread: PredictThread) -> None:
        if thread.error is not None:
            self.failed.emit(thread.error)
        elif thread.instances is None:
            self.cancelled.emit()
        else:
            self.succeeded.emit(thread.instances, thread.model_name)
