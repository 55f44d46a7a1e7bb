"""GUI test fixtures: offscreen Qt, settings and recovery files in tmp, recorded message boxes,
cyclic garbage collected on the GUI thread only (as in the app), and a check that fails any
test leaving a QThread running."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything creates a QApplication

import gc
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, QThread, QThreadPool
from PySide6.QtWidgets import QMessageBox


from karyostudio.gui import gui_thread_gc
from karyostudio.io.images import write_image
from karyostudio.models.registry import ModelInfo

from tests.gui.helpers import FakePredictor

GUI_TEST_TIMEOUT_S = 60


def pytest_collection_modifyitems(config, items):
    """A hung GUI test (a dialog waiting for a click) fails after a minute instead of ten."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.timeout(GUI_TEST_TIMEOUT_S))


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """QSettings and recovery files live in this test's tmp folder."""
    settings_dir = tmp_path / "settings"
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    monkeypatch.setenv("KARYOSTUDIO_RECOVERY_DIR", str(tmp_path / "recovery"))
    return settings_dir


def _running_qthreads() -> list[QThread]:
    running = []
    with warnings.catch_warnings():  # isinstance on deprecated module attributes (torch) warns
        warnings.simplefilter("ignore")
        objects = [obj for obj in gc.get_objects() if isinstance(obj, QThread)]
    for obj in objects:
        try:
            if obj.isRunning():
                running.append(obj)
        except RuntimeError:  # the C++ object is already gone
            continue
    return running


@pytest.fixture(autouse=True)
def gc_on_gui_thread(qapp):
    """As in the app: a worker thread never runs the cycle collector (and with it Qt destructors)."""
    collector = gui_thread_gc.install(qapp)
    yield
    collector.stop()  # after the thread check below: collects on this thread, then re-enables


@pytest.fixture(autouse=True)
def no_leaked_threads(qapp, gc_on_gui_thread):
    """Fail a test that leaves a QThread or thread-pool job running (after a short grace)."""
    python_threads = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and (_running_qthreads() or QThreadPool.globalInstance().activeThreadCount()):
        qapp.processEvents()
        time.sleep(0.02)
    leaked = _running_qthreads()
    active = QThreadPool.globalInstance().activeThreadCount()
    new_python = [t for t in threading.enumerate() if t not in python_threads and t.is_alive()
                  and not isinstance(t, threading._DummyThread)]
    assert not leaked and not active and not new_python, \
        f"leaked threads: {leaked} QThreads, {active} pool jobs, {new_python}"


@dataclass
class MessageLog:
    """Message boxes shown during a test, instead of blocking it."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    answer: QMessageBox.StandardButton = QMessageBox.StandardButton.Discard


@pytest.fixture(autouse=True)
def messages(monkeypatch: pytest.MonkeyPatch) -> MessageLog:
    log = MessageLog()
    monkeypatch.setattr(QMessageBox, "critical", staticmethod(lambda parent, title, text, *a: log.errors.append(text)))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: log.warnings.append(text)))

    def question(parent, title, text, *args):
        log.questions.append(text)
        return log.answer

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return log


@pytest.fixture
def fake_predictor() -> FakePredictor:
    return FakePredictor()


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    """A 200 x 160 8-bit metaphase stand-in: dark squares on a light background."""
    image = np.full((160, 200), 220, dtype=np.uint8)
    image[20:60, 20:60] = 40
    image[80:130, 100:150] = 60
    path = tmp_path / "cell.png"
    write_image(path, image)
    return path


@pytest.fixture
def window(qtbot, tmp_path: Path, fake_predictor: FakePredictor):
    from karyostudio.gui.main_window import MainWindow

    info = ModelInfo(fake_predictor.name, "fake", "test predictor", None, True)
    win = MainWindow(predictor_loader=lambda name: fake_predictor, model_lister=lambda: [info],
                     recovery_directory=tmp_path / "recovery", autosave_delay_ms=50)
    qtbot.addWidget(win)
    win.resize(900, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.discard_and_close()
