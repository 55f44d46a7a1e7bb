"""Running the model on a whole case: not-started cells only, progress, Cancel, failures."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt, QTimer

from karyostudio.core.commands import AddInstances
from karyostudio.core.instance import Instance
from karyostudio.io.labelme import read_labelme

from tests.gui.case_folders import make_case, write_cell_image
from tests.gui.helpers import GpuOutOfMemory, square


def _case_with_new_cells(tmp_path, n_new: int):
    case = make_case(tmp_path / "case")  # cell1 not started, cell2/3/10 annotated
    for i in range(n_new):
        write_cell_image(case, f"new{i}", shade=30 + i)
    return case


def _annotation_files(case):
    return {p.name: p.read_bytes() for p in case.glob("*.json")}


def test_run_writes_json_for_not_started_cells_only(window, tmp_path, qtbot, fake_predictor):
    case = _case_with_new_cells(tmp_path, 2)
    assert window.case.open_case(case)
    before = _annotation_files(case)
    progress = []
    window.case.runner.progress.connect(lambda done, total, msg: progress.append((done, total, msg)))
    window.case.run_case_action.trigger()
    assert window.case.runner.running and not window.act.run_model.isEnabled()
    with qtbot.waitSignal(window.case.runner.finished, timeout=10_000) as blocker:
        pass
    outcome = blocker.args[0]
    assert sorted(outcome.written) == ["cell1", "new0", "new1"] and not outcome.failures
    assert fake_predictor.calls == 3
    after = _annotation_files(case)
    assert {k: after[k] for k in before} == before  # existing annotation files untouched
    assert sorted(set(after) - set(before)) == ["cell1.json", "new0.json", "new1.json"]
    written = read_labelme(case / "new0.json")
    assert sorted(i.label for i in written.instances) == ["1", "X"] and written.image_path == case / "new0.png"
    assert all(i.source == fake_predictor.name and not i.reviewed for i in written.instances)
    assert any(msg.startswith("cell 3 of 3: ") for _, _, msg in progress)
    assert max(done for done, total, _ in progress if total) < progress[-1][1]  # one bar over all cells
    statuses = [window.case.panel.model.index(r, 1).data() for r in range(6)]
    assert statuses == ["auto", "auto", "reviewed", "reviewed", "auto", "auto"]
    tally = window.case.panel.tally.text()
    assert "6 cells: 0 not started, 4 auto, 2 reviewed" in tally and "46,XX: 2" in tally
    # cell1 was open without outlines: it now shows the model's result
    assert window.session.annotation_path == case / "cell1.json" and len(window.session.document) == 2
    assert window.act.run_model.isEnabled() and window.case.run_case_action.isEnabled()
    assert not window.case.run_case()  # nothing left to do


def test_cancel_keeps_finished_cells_and_leaves_the_rest(window, tmp_path, qtbot, fake_predictor):
    case = _case_with_new_cells(tmp_path, 5)
    assert window.case.open_case(case)
    fake_predictor.steps, fake_predictor.delay = 20, 0.01  # ~0.2 s per cell
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    assert window.case.run_case()
    qtbot.waitUntil(lambda: len(list(case.glob("new*.json"))) >= 1, timeout=5_000)
    with qtbot.waitSignal(window.case.runner.finished, timeout=5_000) as blocker:
        qtbot.mouseClick(window.status.cancel, Qt.MouseButton.LeftButton)
    timer.stop()
    outcome = blocker.args[0]
    assert outcome.cancelled and 1 <= len(outcome.written) < 6
    done = {p.stem for p in case.glob("*.json")} - {"cell2", "cell3", "cell10"}
    assert done == set(outcome.written)
    assert not list(case.glob(".*.tmp"))  # no half-written file
    for name in done:
        assert len(read_labelme(case / f"{name}.json").instances) == 2
    assert len(ticks) >= 10  # the GUI kept running during the run
    not_started = [window.case.panel.model.index(r, 1).data() for r in range(9)].count("not started")
    assert not_started == 6 - len(done)
    assert not window.status.cancel.isVisible() and window.act.run_model.isEnabled()


def test_a_failing_cell_is_reported_and_the_run_goes_on(window, tmp_path, qtbot, messages):
    case = _case_with_new_cells(tmp_path, 2)
    (case / "new0.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00broken")
    assert window.case.open_case(case)
    with qtbot.waitSignal(window.case.runner.finished, timeout=10_000):
        assert window.case.run_case()
    assert (case / "cell1.json").is_file() and (case / "new1.json").is_file()
    assert not (case / "new0.json").exists()
    assert len(messages.warnings) == 1 and "new0" in messages.warnings[0] and "1 cell(s)" in messages.warnings[0]


def test_the_open_cell_with_unsaved_outlines_is_left_alone(window, tmp_path, qtbot):
    case = _case_with_new_cells(tmp_path, 1)
    assert window.case.open_case(case)  # opens cell1, not started
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 20), label="5")]))
    with qtbot.waitSignal(window.case.runner.finished, timeout=10_000) as blocker:
        assert window.case.run_case()
    assert blocker.args[0].written == ["new0"]
    assert not (case / "cell1.json").exists()
    assert [i.label for i in window.session.document] == ["5"] and window.session.dirty


def test_closing_the_window_during_a_run_stops_it(window, tmp_path, qtbot, fake_predictor):
    case = _case_with_new_cells(tmp_path, 3)
    assert window.case.open_case(case)
    fake_predictor.steps, fake_predictor.delay = 200, 0.01
    assert window.case.run_case()
    qtbot.wait(100)
    started = time.monotonic()
    window.discard_and_close()
    assert time.monotonic() - started < 2.0 and not window.case.runner.running
    assert not list(case.glob("new*.json"))


class _SmallGpu:
    """On the GPU, analyses the first cell and runs out of memory on the next one."""

    name = "fake-gpu"
    description = "test predictor"

    def __init__(self, cpu):
        self.cpu, self.calls = cpu, 0

    def predict(self, image, **kwargs):
        self.calls += 1
        if self.calls > 1:
            raise GpuOutOfMemory("CUDA out of memory. Tried to allocate 3.00 GiB")
        return self.cpu.predict(image, **kwargs)


@pytest.mark.parametrize("accept", [True, False])
def test_gpu_out_of_memory_stops_the_run_and_offers_the_rest_to_the_cpu(qtbot, tmp_path, fake_predictor, messages,
                                                                       accept):
    from PySide6.QtWidgets import QMessageBox

    from karyostudio.gui.main_window import MainWindow
    from karyostudio.gui.run_request import RunRequest
    from karyostudio.models.registry import ModelInfo

    gpu, loads = _SmallGpu(fake_predictor), []

    def load(request):
        loads.append(request)
        return gpu if request.device == "cuda" else fake_predictor

    info = ModelInfo(fake_predictor.name, "fake", "test predictor", None, True)
    window = MainWindow(predictor_loader=load, model_lister=lambda: [info],
                        recovery_directory=tmp_path / "recovery", autosave_delay_ms=50)
    qtbot.addWidget(window)
    try:
        case = _case_with_new_cells(tmp_path, 3)  # 4 cells to do: cell1, new0..new2
        assert window.case.open_case(case)
        window.compute.set_device("cuda")
        messages.answer = QMessageBox.StandardButton.Yes if accept else QMessageBox.StandardButton.No
        with qtbot.waitSignal(window.case.runner.finished, timeout=10_000) as blocker:
            assert window.case.run_case()
        first = blocker.args[0]
        assert len(first.written) == 1 and len(first.failures) == 1  # stopped at the first GPU failure
        assert gpu.calls == 2 and "out of memory" in first.gpu_failure.message
        assert len(messages.questions) == 1 and "1 of 4 cells were analysed" in messages.questions[0]
        if accept:
            qtbot.waitUntil(lambda: not window.case.runner.running and fake_predictor.calls == 4, timeout=10_000)
            assert loads == [RunRequest("fake-slow", device="cuda"), RunRequest("fake-slow")]
            assert window.compute.device == "cpu"
            assert sorted(p.stem for p in case.glob("*.json")) == ["cell1", "cell10", "cell2", "cell3",
                                                                   "new0", "new1", "new2"]
            assert not messages.warnings and not messages.errors
        else:
            assert window.compute.device == "cuda" and fake_predictor.calls == 1
            assert len(list(case.glob("*.json"))) == 3 + 1
            assert len(messages.warnings) == 1 and "out of memory" in messages.warnings[0]
    finally:
        window.discard_and_close()
