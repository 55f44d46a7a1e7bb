"""Running a model on every not-started cell of a case, in a worker thread.

Each result is written next to its image as labelme JSON (atomically) as soon as it is ready,
so a cancelled run keeps the cells already done and leaves the rest untouched. An existing
annotation file is never overwritten: a cell that gained one since the run started is skipped.
A cell that fails (unreadable image, a model error, an unwritable folder) is reported and the
run goes on with the next one, except when the GPU failed (out of memory, CUDA gone): then the
run stops, since every later cell would fail the same way, and the app offers the rest to the CPU.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.gui.predictors import PredictorLoader
from karyostudio.gui.run_errors import RunError, classify
from karyostudio.gui.run_request import RunRequest
from karyostudio.gui.thread_runner import ThreadRunner
from karyostudio.io.errors import FormatError
from karyostudio.io.images import image_key, orientation_extra, read_image
from karyostudio.io.labelme import write_labelme
from karyostudio.workspace.case_scan import annotation_path_for

_PROGRESS_INTERVAL_S = 0.05
STEPS_PER_CELL = 100  # progress units per cell, so one bar shows "cell k of n" and the progress inside it


@dataclass
class CaseRunOutcome:
    request: RunRequest
    total: int
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # cells that gained an annotation file meanwhile
    failures: list[tuple[str, RunError]] = field(default_factory=list)  # (cell, why)
    cancelled: bool = False
    error: RunError | None = None  # the model itself could not be loaded: nothing ran

    @property
    def gpu_failure(self) -> RunError | None:
        """Why the run failed on the GPU (load error or a cell's failure), or None."""
        reasons = ([self.error] if self.error else []) + [why for _, why in self.failures]
        return next((why for why in reasons if why.gpu_failure), None)


class CaseRunThread(QThread):
    progressed = Signal(int, int, str)
    cell_written = Signal(str)  # the annotation file just written

    def __init__(self, loader: PredictorLoader, request: RunRequest, images: list[Path], token: CancelToken):
        super().__init__()
        self._loader = loader
        self._images = list(images)
        self.token = token
        self.outcome = CaseRunOutcome(request, len(images))
        self._last_progress = 0.0
        self._cell = 0
        self._label = ""

    def run(self) -> None:
        outcome = self.outcome
        try:
            self.progressed.emit(0, 0, f"loading model {outcome.request.label}")
            predictor = self._loader(outcome.request)
        except Exception as exc:  # shown to the user; nothing was written
            outcome.error = classify(exc)
            traceback.print_exc()
            return
        try:
            for k, image_path in enumerate(self._images):
                self.token.raise_if_cancelled()
                self._cell, self._label = k, f"cell {k + 1} of {len(self._images)}: {image_key(image_path.name)}"
                self._progress(0, 1, "", force=True)
                self._run_cell(predictor, image_path)
                if self.outcome.gpu_failure is not None:
                    return
        except Cancelled:
            outcome.cancelled = True

    def _run_cell(self, predictor, image_path: Path) -> None:
        name = image_key(image_path.name)
        target = annotation_path_for(image_path)
        if target.exists():
            self.outcome.skipped.append(name)
            return
        try:
            image = read_image(image_path)
            with self.token.interruptible():  # Cancel returns even from a stage that never checks
                instances = list(predictor.predict(image, progress=self._progress, cancel=self.token))
            self.token.raise_if_cancelled()
            if target.exists():  # written by someone else while the model ran
                self.outcome.skipped.append(name)
                return
            height, width = image.shape[:2]
            write_labelme(target, ImageAnnotations(name, instances, image_path, (width, height),
                                                   extra=orientation_extra(image_path)))
        except Cancelled:
            raise
        except (FormatError, OSError) as exc:  # their messages name the file: shown as they are
            self.outcome.failures.append((name, classify(exc, str(exc))))
            return
        except Exception as exc:  # a model error on one cell must not end the whole run
            self.outcome.failures.append((name, classify(exc)))
            traceback.print_exc()
            return
        self.outcome.written.append(name)
        self.cell_written.emit(str(target))

    def _progress(self, done: int, total: int, message: str = "", *, force: bool = False) -> None:
        now = time.monotonic()
        if force or done >= total or now - self._last_progress >= _PROGRESS_INTERVAL_S:
            self._last_progress = now
            within = int(STEPS_PER_CELL * done / total) if total > 0 else 0
            self.progressed.emit(self._cell * STEPS_PER_CELL + min(within, STEPS_PER_CELL - 1),
                                 len(self._images) * STEPS_PER_CELL, self._label)


class CaseRunner(ThreadRunner):
    """One whole-case run at a time; Cancel stops it at the predictor's next check.

    ``shutdown`` (window closing) joins a run without reporting it; finished cells stay written.
    """

    progress = Signal(int, int, str)
    cell_written = Signal(str)
    finished = Signal(object)  # CaseRunOutcome, emitted after the thread has ended

    def __init__(self, loader: PredictorLoader, parent: QObject | None = None):
        super().__init__(parent)
        self._loader = loader

    def start(self, request: RunRequest, images: list[Path]) -> bool:
        if self._thread is not None:
            return False
        thread = CaseRunThread(self._loader, request, images, CancelToken())
        return self._launch(thread, (thread.progressed, self.progress), (thread.cell_written, self.cell_written))

    def _emit_outcome(self, thread: CaseRunThread) -> None:
        self.finished.emit(thread.outcome)
