"""Controllers built from only what they are given (services, fakes), without a MainWindow; and the
typed errors their workers report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMenu, QWidget

from karyostudio.core.progress import CancelToken, Cancelled, check
from karyostudio.gui.actions import Menus
from karyostudio.gui.case.controller import CaseController
from karyostudio.gui.compute import ComputeService
from karyostudio.gui.jobs import JobRunner
from karyostudio.gui.model_control import ModelController
from karyostudio.gui.run_errors import ErrorKind, classify
from karyostudio.gui.run_request import RunRequest
from karyostudio.gui.selection import Selection
from karyostudio.gui.session_model import SessionModel
from karyostudio.gui.workers import ModelRunner, PredictThread
from karyostudio.io.errors import FormatError
from karyostudio.models.registry import DeviceUnavailableError, ModelInfo
from karyostudio.workspace.session import Session

from tests.gui.case_folders import make_case
from tests.gui.helpers import FakePredictor, GpuOutOfMemory


@dataclass
class FakeStatus:
    """A StatusSink that remembers what it was told."""

    messages: list[str] = field(default_factory=list)
    progress: list[tuple[int, int]] = field(default_factory=list)
    model_state: str = ""

    def message(self, text: str, timeout_ms: int = 0) -> None:
        self.messages.append(text)

    def set_progress(self, done: int, total: int, message: str) -> None:
        self.progress.append((done, total))

    def set_model_state(self, text: str) -> None:
        self.model_state = text


def _menus(host: QWidget) -> Menus:
    file = QMenu("File", host)
    save, quit_ = file.addAction("Save"), file.addAction("Quit")
    return Menus(file=file, edit=QMenu(host), tools=QMenu(host), view=QMenu(host), analysis=QMenu(host),
                 help=QMenu(host), file_open_end=save, file_end=quit_)


@pytest.fixture
def host(qtbot):
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def sessions(host, image_file):
    return SessionModel(host, Session.open(image_file))


def _model_controller(sessions, compute, host, predictor):
    status = FakeStatus()
    info = ModelInfo(predictor.name, "fake", "test predictor", None, True)
    controller = ModelController(sessions, compute, Selection(host), status, lambda: [info], host)
    controller.refresh()
    return controller, status


def _wait_until_idle(qtbot, compute: ComputeService) -> None:
    qtbot.waitUntil(lambda: compute.running_job is None, timeout=10_000)


def test_a_run_enters_the_document_as_one_undoable_command(qtbot, host, sessions, fake_predictor):
    compute = ComputeService(lambda request: fake_predictor, host)
    controller, status = _model_controller(sessions, compute, host, fake_predictor)
    assert status.model_state == "model: fake-slow"
    session = sessions.session
    history_changes = []
    sessions.history_changed.connect(lambda: history_changes.append(True))
    with qtbot.waitSignal(controller.runner.succeeded, timeout=10_000):
        assert controller.run()
        assert compute.running_job == "the model run fake-slow"
    assert sorted(i.label for i in session.document) == ["1", "X"]
    assert session.history.undo_text == "run model fake-slow" and len(history_changes) == 1
    assert status.messages == ["running fake-slow…", "fake-slow: no metaphase found (2 objects)"]
    assert (fake_predictor.steps, fake_predictor.steps) in status.progress
    _wait_until_idle(qtbot, compute)
    assert session.history.undo() and len(session.document) == 0


def test_the_gate_refuses_a_second_job_and_opens_however_a_job_ends(qtbot, host, sessions):
    slow = FakePredictor(steps=200, delay=0.01)
    compute = ComputeService(lambda request: slow, host)
    controller, status = _model_controller(sessions, compute, host, slow)
    jobs = JobRunner(host)
    assert controller.run()
    refusal = compute.refusal("training tiny")
    assert refusal is not None and "the model run fake-slow is running" in refusal
    assert not compute.start("training tiny", jobs, lambda: jobs.start(lambda post, cancel: None))
    assert not jobs.running
    assert not controller.run() and "cannot start the model run fake-slow" in status.messages[-1]
    with qtbot.waitSignal(controller.runner.cancelled, timeout=10_000):
        controller.cancel()
    assert compute.running_job is None  # opened after Cancel

    def failing(post, cancel):
        raise RuntimeError("broken")

    with qtbot.waitSignal(jobs.failed, timeout=10_000):
        assert compute.start("the evaluation of x", jobs, lambda: jobs.start(failing))
        assert compute.refusal("the model run fake-slow") is not None
    assert compute.running_job is None  # opened after a failure
    with qtbot.waitSignal(jobs.succeeded, timeout=10_000):
        assert compute.start("the evaluation of x", jobs, lambda: jobs.start(lambda post, cancel: 42))
    assert compute.running_job is None  # opened after a result
    assert not compute.start("a job that does not start", jobs, lambda: False)
    assert compute.running_job is None


def test_the_device_is_one_choice_kept_across_starts(host):
    compute = ComputeService(parent=host)
    changes = []
    compute.device_changed.connect(changes.append)
    assert compute.device == "cpu"
    compute.set_device("cuda")
    assert compute.request("m", "s") == RunRequest("m", "s", "cuda") and changes == ["cuda"]
    assert ComputeService(parent=host).device == "cuda"  # remembered in the settings
    with pytest.raises(ValueError, match="tpu"):
        compute.set_device("tpu")


@dataclass
class FakeFiles:
    """The DocumentFiles a case controller is given: it records what the case asked for."""

    sessions: SessionModel
    opened: list[tuple[Path, bool]] = field(default_factory=list)
    asked: int = 0

    def maybe_save(self) -> bool:
        self.asked += 1
        return True

    def open_path(self, path: Path, reader=None) -> bool:
        self.opened.append((path, reader is not None))
        self.sessions.set_session((reader or Session.open)(path))
        return True

    def save_to(self, path: Path) -> bool:
        return True


def test_the_case_controller_opens_cells_through_the_files_it_was_given(qtbot, host, tmp_path):
    sessions = SessionModel(host)
    files = FakeFiles(sessions)
    status = FakeStatus()
    case = CaseController(sessions=sessions, compute=ComputeService(parent=host), files=files,
                          run_request=lambda: None, status=status, host=host, menus=_menus(host))
    folder = make_case(tmp_path / "case")
    assert case.open_case(folder)
    assert files.opened == [(folder / "cell1.png", False)] and files.asked == 1
    assert status.messages[-1] == "case case: 4 cells"
    case.file_opened(folder / "cell1.png")
    assert case.current_row() == 0
    assert case.step(+1)
    assert files.opened[-1] == (folder / "cell2.json", True)  # with the reader that knows the cell's image
    assert sessions.session.image_path == folder / "cell2.png" and files.asked == 2
    assert not case.run_case() and status.messages[-1] == "no model is available"


def test_errors_are_classified_from_the_exception():
    assert classify(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")).kind is ErrorKind.OUT_OF_MEMORY
    assert classify(GpuOutOfMemory("Tried to allocate 2.00 GiB")).kind is ErrorKind.OUT_OF_MEMORY
    unavailable = classify(DeviceUnavailableError("CUDA is not available"))
    assert unavailable.kind is ErrorKind.DEVICE_UNAVAILABLE and unavailable.gpu_failure
    assert classify(FormatError(Path("a.png"), "not an image")).kind is ErrorKind.BAD_INPUT
    assert classify(Cancelled("cancelled by the user")).kind is ErrorKind.CANCELLED
    failed = classify(KeyError("weights"))
    assert failed.kind is ErrorKind.FAILED and not failed.gpu_failure and failed.message == "KeyError: 'weights'"


class _OutOfMemory:
    name = "oom"

    def predict(self, image, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 3.00 GiB\nmore detail")


def test_the_worker_classifies_out_of_memory_and_cancel(qtbot, image_file):
    image = Session.open(image_file).image
    runner = ModelRunner(lambda request: _OutOfMemory())
    with qtbot.waitSignal(runner.failed, timeout=10_000) as blocker:
        assert runner.start(RunRequest("oom", device="cuda"), image)
    error = blocker.args[0]
    assert error.kind is ErrorKind.OUT_OF_MEMORY and error.gpu_failure
    assert error.summary == "RuntimeError: CUDA out of memory. Tried to allocate 3.00 GiB"

    token = CancelToken()
    token.cancel()
    thread = PredictThread(lambda request: FakePredictor(), RunRequest("fake-slow"), image, token)
    thread.run()  # the thread's body, here: it classifies what it caught
    assert thread.instances is None and thread.error.kind is ErrorKind.CANCELLED

    def endless(post, cancel):
        while True:
            check(cancel)
            time.sleep(0.01)

    jobs = JobRunner()
    cancelled = []
    jobs.cancelled.connect(lambda: cancelled.append(True))
    jobs.failed.connect(lambda error: cancelled.append(error))
    assert jobs.start(endless)
    with qtbot.waitSignal(jobs.busy_changed, timeout=10_000, check_params_cb=lambda busy: not busy):
        jobs.cancel()
    assert cancelled == [True]
