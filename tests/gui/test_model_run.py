"""Model runs in a worker thread: progress, Cancel, responsiveness, one undo step, failures."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt, QTimer

from karyostudio.core.commands import AddInstances
from karyostudio.core.instance import Instance

from tests.gui.helpers import GpuOutOfMemory, square


@pytest.fixture
def loaded(window, image_file):
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances([Instance(id=7, polygon=square(5, 5, 10), label="4")]))
    return window


def test_run_result_is_one_undo_step(loaded, qtbot, fake_predictor):
    window = loaded
    before = window.session.document.snapshot()
    progress = []
    window.models.runner.progress.connect(lambda done, total, msg: progress.append((done, total)))
    with qtbot.waitSignal(window.models.runner.succeeded, timeout=10_000):
        assert window.models.run()
    assert fake_predictor.calls == 1
    doc = window.session.document
    assert sorted(i.label for i in doc) == ["1", "X"]
    assert window.session.history.undo_text == "run model fake-slow"
    assert (fake_predictor.steps, fake_predictor.steps) in progress
    qtbot.wait(50)  # the run's end (busy off) comes after its result
    assert window.status.currentMessage() == "fake-slow: no metaphase found (2 objects)"
    assert len(window.scene.instance_items()) == 2 and window.instance_panel.model.rowCount() == 2
    assert window.act.run_model.isEnabled() and not window.models.runner.running

    window.act.undo.trigger()
    assert doc.snapshot() == before
    assert window.instance_panel.model.rowCount() == 1


def test_cancel_keeps_gui_responsive_and_document_unchanged(loaded, qtbot, fake_predictor):
    window = loaded
    fake_predictor.steps, fake_predictor.delay = 400, 0.01  # ~4 s unless cancelled
    before = window.session.document.snapshot()
    undo_depth = len(window.session.history._undo)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    started = time.monotonic()
    assert window.models.run()
    assert window.status.cancel.isVisible() and not window.act.run_model.isEnabled()
    assert not window.models.run()  # one run at a time
    qtbot.wait(300)
    with qtbot.waitSignal(window.models.runner.cancelled, timeout=5_000):
        qtbot.mouseClick(window.status.cancel, Qt.MouseButton.LeftButton)
    timer.stop()
    assert time.monotonic() - started < 3.0  # stopped long before the run would have ended
    assert len(ticks) >= 10  # the GUI thread kept running its timers during the run
    assert window.session.document.snapshot() == before
    assert len(window.session.history._undo) == undo_depth
    assert not window.status.cancel.isVisible() and window.act.run_model.isEnabled()


def test_failure_shows_a_dialog_and_changes_nothing(loaded, qtbot, messages, fake_predictor):
    window = loaded

    def broken(image, *, progress=None, cancel=None):
        raise RuntimeError("weights are damaged")

    fake_predictor.predict = broken
    before = window.session.document.snapshot()
    with qtbot.waitSignal(window.models.runner.failed, timeout=5_000):
        window.models.run()
    assert len(messages.errors) == 1 and "weights are damaged" in messages.errors[0]
    assert window.session.document.snapshot() == before


def test_result_for_a_closed_image_is_dropped(loaded, qtbot, image_file, fake_predictor):
    window = loaded
    fake_predictor.steps = 20
    window.models.run()
    assert window.files.open_path(image_file)  # another session while the model runs
    reopened = window.session
    window.models.runner.wait(5_000)
    assert reopened is window.session and len(reopened.document) == 0 and not reopened.dirty


def test_no_image_no_run(window):
    assert not window.models.run()
    assert not window.models.runner.running


def test_split_clusters_switch_wraps_the_model(loaded, qtbot, monkeypatch, fake_predictor):
    """With the switch on, a run asks for the model followed by chromseg-cpu: the model wrapped by the splitter."""
    import karyostudio.models.overlap.stage as stage
    from PySide6.QtWidgets import QMenu

    from karyostudio.gui.run_request import RunRequest

    window = loaded
    wrapped = []

    def fake_with_splitter(predictor, splitter_name="chromseg-cpu", device="cpu"):
        wrapped.append((predictor.name, splitter_name))
        return predictor

    monkeypatch.setattr(stage, "with_splitter", fake_with_splitter)
    assert window.models.run_request == RunRequest("fake-slow")
    assert window.models.split_action in window.menuBar().findChild(QMenu, "menu_analysis").actions()
    window.models.split_action.setChecked(True)
    assert window.models.run_request == RunRequest("fake-slow", "chromseg-cpu")
    with qtbot.waitSignal(window.models.runner.succeeded, timeout=10_000):
        assert window.models.run()
    assert wrapped == [("fake-slow", "chromseg-cpu")] and fake_predictor.calls == 1
    assert sorted(i.label for i in window.session.document) == ["1", "X"]


def _gpu_failing_loader(fake_predictor, loads):
    def load(request):
        loads.append(request)
        if request.device == "cuda":
            raise GpuOutOfMemory("CUDA out of memory. Tried to allocate 2.00 GiB")
        return fake_predictor
    return load


@pytest.mark.parametrize("accept", [True, False])
def test_gpu_out_of_memory_offers_the_cpu(qtbot, tmp_path, image_file, fake_predictor, messages, accept):
    from PySide6.QtWidgets import QMessageBox

    from karyostudio.gui.main_window import MainWindow
    from karyostudio.gui.run_request import RunRequest
    from karyostudio.models.registry import ModelInfo

    loads = []
    info = ModelInfo(fake_predictor.name, "fake", "test predictor", None, True)
    window = MainWindow(predictor_loader=_gpu_failing_loader(fake_predictor, loads), model_lister=lambda: [info],
                        recovery_directory=tmp_path / "recovery", autosave_delay_ms=50)
    qtbot.addWidget(window)
    try:
        assert window.files.open_path(image_file)
        window.compute.set_device("cuda")
        assert window.models.run_request == RunRequest("fake-slow", device="cuda")
        messages.answer = QMessageBox.StandardButton.Yes if accept else QMessageBox.StandardButton.No
        with qtbot.waitSignal(window.models.runner.failed, timeout=10_000):
            assert window.models.run()
        if accept:
            qtbot.waitUntil(lambda: fake_predictor.calls == 1 and not window.models.runner.running, timeout=10_000)
            assert loads == [RunRequest("fake-slow", device="cuda"), RunRequest("fake-slow")]
            assert window.compute.device == "cpu"
            assert sorted(i.label for i in window.session.document) == ["1", "X"]
            assert not messages.errors
        else:
            assert window.compute.device == "cuda" and fake_predictor.calls == 0
            assert len(messages.errors) == 1 and "out of memory" in messages.errors[0]
        assert len(messages.questions) == 1 and "Run it on the CPU instead?" in messages.questions[0]
    finally:
        window.discard_and_close()


def test_default_loader_loads_on_the_requested_device():
    from karyostudio.gui.predictors import default_loader
    from karyostudio.gui.run_request import RunRequest
    from karyostudio.models.registry import DeviceUnavailableError, UnknownModelError

    with pytest.raises(UnknownModelError, match="'no-such-model'"):
        default_loader(RunRequest("no-such-model", device="cpu"))
    with pytest.raises(DeviceUnavailableError, match="unknown device 'tpu'"):
        default_loader(RunRequest("default-cpu", device="tpu"))


def test_run_requests_carry_the_device_and_the_splitter():
    from karyostudio.gui.run_request import RunRequest

    assert RunRequest("default-cpu") == RunRequest("default-cpu", None, "cpu")  # the CPU unless asked
    request = RunRequest("m", "chromseg-cpu", "cuda")
    assert (request.model, request.splitter, request.device) == ("m", "chromseg-cpu", "cuda")
    assert request.model_only() == RunRequest("m", device="cuda")
    assert {request: 1}[RunRequest("m", "chromseg-cpu", "cuda")] == 1  # a cache key
    assert RunRequest("default-cpu").label == "default-cpu"
    assert request.label == "m + chromseg-cpu on cuda"
