"""ComputeService: the device the app computes on, the predictor cache, and the one-job gate.

Model runs, whole-case runs, training and evaluation all start through ``start``. The gate admits
one job at a time: two jobs on one GPU run it out of memory, and on a small CPU each would crawl.
A second job is refused with a message naming the running one rather than queued behind it: the
user asked for it now, and a queued job starting unnoticed minutes later would surprise more than
a refusal. The gate opens when the job's runner goes idle, however the job ended (result,
failure, Cancel, window closing).
"""

from __future__ import annotations

import sys
from typing import Callable

from PySide6.QtCore import QObject, Signal

from karyostudio.gui.predictors import PredictorCache, PredictorLoader, default_loader
from karyostudio.gui.run_request import CPU, RunRequest
from karyostudio.gui.settings import app_settings
from karyostudio.gui.thread_runner import ThreadRunner

DEVICES = ((CPU, "Run on the &CPU"), ("cuda", "Run on the &GPU (CUDA)"))  # device, menu text
_DEVICE_KEY = "models/device"


class ComputeService(QObject):
    device_changed = Signal(str)

    def __init__(self, loader: PredictorLoader = default_loader, parent: QObject | None = None):
        super().__init__(parent)
        self.predictors = PredictorCache(loader)  # shared by every job: each model loads once
        saved = str(app_settings().value(_DEVICE_KEY, CPU))
        self._device = saved if saved in device_names() else CPU
        self._job: str | None = None
        self._holder: ThreadRunner | None = None

    # --- the device --------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self._device

    def set_device(self, device: str) -> None:
        """Compute on ``device`` from now on (remembered for the next start)."""
        if device not in device_names():
            raise ValueError(f"unknown device {device!r}; devices: {', '.join(device_names())}")
        if device != self._device:
            self._device = device
            app_settings().setValue(_DEVICE_KEY, device)
            self.device_changed.emit(device)

    def request(self, model: str, splitter: str | None = None) -> RunRequest:
        """A run of ``model`` (and ``splitter``) on the chosen device."""
        return RunRequest(model, splitter, self._device)

    @staticmethod
    def gpu_available() -> bool:
        """A CUDA device, when torch is already loaded (never loads torch just to ask)."""
        torch = sys.modules.get("torch")
        try:
            return bool(torch is not None and torch.cuda.is_available())
        except Exception:  # noqa: BLE001 - a broken CUDA setup means no GPU
            return False

    # --- the gate ----------------------------------------------------------------------------
    @property
    def running_job(self) -> str | None:
        """What holds the gate ("the model run default-cpu", "training ..."), or None."""
        return self._job

    def refusal(self, job: str) -> str | None:
        """Why ``job`` cannot start now (for the status bar or a panel), or None when it can."""
        if self._job is None:
            return None
        return f"cannot start {job}: {self._job} is running (wait for it to end, or cancel it)"

    def start(self, job: str, runner: ThreadRunner, launch: Callable[[], bool]) -> bool:
        """Call ``launch`` (which starts ``runner``) holding the gate until ``runner`` goes idle.

        False, and nothing started, when another job holds the gate or ``launch`` returns False.
        """
        if self._job is not None:
            return False
        self._job, self._holder = job, runner
        runner.busy_changed.connect(self._holder_busy)
        if launch():
            return True
        self._release()
        return False

    def _holder_busy(self, busy: bool) -> None:
        if not busy:
            self._release()

    def _release(self) -> None:
        if self._holder is not None:
            self._holder.busy_changed.disconnect(self._holder_busy)
        self._job, self._holder = None, None


def device_names() -> list[str]:
    return [device for device, _ in DEVICES]
