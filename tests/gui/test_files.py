"""Open/save through the window, unsaved-changes prompts, corrupt files, autosave and recovery."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog, QMessageBox

import karyostudio.gui.files as files_module
from karyostudio.core.commands import AddInstances, SetLabel
from karyostudio.core.instance import Instance
from karyostudio.gui.dialogs.recovery import RecoveryAction, RecoveryDecision
from karyostudio.gui.main_window import MainWindow
from karyostudio.io.images import read_image
from karyostudio.io.labelme import read_labelme

from tests.gui.helpers import square


def test_open_edit_save_round_trip(window, image_file, tmp_path, monkeypatch):
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30), label="12")]))
    assert window.isWindowModified()
    target = tmp_path / "out" / "cell.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    window.act.save.trigger()  # no annotation file yet: Save asks where
    assert target.is_file() and not window.isWindowModified()
    ann = read_labelme(target)
    assert [(i.label, i.polygon.tolist()) for i in ann.instances] == [("12", square(10, 10, 30).tolist())]

    assert window.files.open_path(target)
    assert window.session.annotation_path == target
    assert np.array_equal(window.session.image, read_image(image_file))
    assert window.instance_panel.model.rowCount() == 1 and window.scene.item_for(1) is not None


def test_corrupt_files_show_an_error_and_change_nothing(window, image_file, tmp_path, messages):
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30))]))
    session, snapshot = window.session, window.session.document.snapshot()
    bad_image = tmp_path / "bad.png"
    bad_image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"shapes": [ {"label": "1", "points": ')
    for path in (bad_image, bad_json):
        assert not window.files.open_path(path)
    assert len(messages.errors) == 2
    assert "bad.png" in messages.errors[0] and "bad.json" in messages.errors[1]
    assert "not valid JSON" in messages.errors[1]
    assert window.session is session and session.document.snapshot() == snapshot


def test_unsaved_changes_prompt_on_open_and_close(window, image_file, messages, monkeypatch):
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30))]))
    asked_for_file = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: asked_for_file.append(1) or (str(image_file), "")))
    messages.answer = QMessageBox.StandardButton.Cancel
    window.act.open.trigger()
    assert len(messages.questions) == 1 and not asked_for_file and len(window.session.document) == 1
    assert not window.close() and window.isVisible()  # Cancel keeps the window open
    assert len(messages.questions) == 2

    messages.answer = QMessageBox.StandardButton.Discard
    window.act.open.trigger()
    assert asked_for_file and len(window.session.document) == 0


def test_autosave_writes_recovery_and_a_save_removes_it(window, image_file, tmp_path, qtbot):
    recovery = tmp_path / "recovery"
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30), label="5")]))
    qtbot.waitUntil(lambda: len(list(recovery.glob("*.json"))) == 1, timeout=3000)
    [written] = recovery.glob("*.json")
    assert [i.label for i in read_labelme(written).instances] == ["5"]

    window.session.history.push(SetLabel([1], "6"))
    qtbot.waitUntil(lambda: [i.label for i in read_labelme(written).instances] == ["6"], timeout=3000)
    assert window.files.save_to(tmp_path / "cell.json")
    assert not written.exists()

    window.session.history.push(SetLabel([1], "8"))
    qtbot.waitUntil(written.exists, timeout=3000)
    window.act.undo.trigger()  # back to the saved state: nothing to recover
    qtbot.waitUntil(lambda: not written.exists(), timeout=3000)


def test_recovery_after_a_crash(window, image_file, tmp_path, qtbot, monkeypatch):
    recovery = tmp_path / "recovery"
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30), label="5"),
                                              Instance(id=2, polygon=square(60, 60, 20), label="Y")]))
    expected = window.session.document.snapshot()
    qtbot.waitUntil(lambda: len(list(recovery.glob("*.json"))) == 1, timeout=3000)
    [written] = recovery.glob("*.json")
    kept = tmp_path / "kept.json"
    shutil.copy(written, kept)
    window.discard_and_close()
    shutil.copy(kept, written)  # what a crash leaves behind: the close never ran

    offered = []
    monkeypatch.setattr(files_module, "choose_recovery",
                        lambda parent, entries: offered.extend(entries) or
                        RecoveryDecision(RecoveryAction.RESTORE, entries[0]))
    restarted = MainWindow(predictor_loader=lambda name: None, model_lister=lambda: [],
                           recovery_directory=recovery, autosave_delay_ms=50)
    qtbot.addWidget(restarted)
    assert restarted.files.offer_recovery()
    assert len(offered) == 1 and offered[0].source == image_file
    session = restarted.session
    assert session.document.snapshot() == expected and session.dirty
    assert session.image is not None and restarted.scene.item_for(2) is not None
    restarted.act.undo.trigger()
    assert len(session.document) == 0  # the image as it was on disk
    restarted.act.redo.trigger()
    assert restarted.files.save_to(tmp_path / "restored.json")
    assert not written.exists()  # the restored session owned that recovery file
    assert json.loads((tmp_path / "restored.json").read_text())["shapes"][1]["label"] == "Y"
    restarted.discard_and_close()


def test_discarding_recovery_deletes_the_files(window, image_file, tmp_path, monkeypatch):
    recovery = tmp_path / "recovery"
    from karyostudio.workspace.recovery import write_recovery
    from karyostudio.workspace.session import Session

    crashed = Session.open(image_file)
    crashed.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30))]))
    path = write_recovery(crashed, recovery)
    monkeypatch.setattr(files_module, "choose_recovery",
                        lambda parent, entries: RecoveryDecision(RecoveryAction.DISCARD))
    assert not window.files.offer_recovery()
    assert not path.exists()


def test_sixteen_bit_display_controls(window, tmp_path):
    from karyostudio.io.images import write_image

    image = np.linspace(1000, 5000, 64 * 48).reshape(48, 64).astype(np.uint16)
    write_image(tmp_path / "deep.tif", image)
    assert window.files.open_path(tmp_path / "deep.tif")
    item = window.scene.image_item
    settings = item.settings
    assert 1000 <= settings.low < settings.high <= 5000  # stretched to the data, not to 65535
    assert window.display_panel.isEnabled()
    window.display_panel.invert.setChecked(True)
    assert item.settings.invert
    shown = item.pixmap().toImage()
    assert shown.pixelColor(0, 0).value() > 200 and shown.pixelColor(63, 47).value() < 50


def test_work_open_in_a_running_instance_is_not_offered(window, image_file, tmp_path, monkeypatch):
    from karyostudio.workspace.recovery import write_recovery
    from karyostudio.workspace.session import Session

    recovery = tmp_path / "recovery"
    elsewhere = Session.open(image_file)
    elsewhere.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30))]))
    path = write_recovery(elsewhere, recovery)
    # Another karyostudio process holds the lock while it edits; then it is killed.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from PySide6.QtCore import QLockFile; "
         "lock = QLockFile(sys.argv[1]); print(lock.tryLock(0), flush=True); time.sleep(60)",
         str(path) + ".lock"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        offered = []
        monkeypatch.setattr(files_module, "choose_recovery",
                            lambda parent, entries: offered.extend(entries) or RecoveryDecision(RecoveryAction.LATER))
        assert not window.files.offer_recovery() and offered == []
    finally:
        holder.kill()  # a crash: the lock file stays behind, naming a dead process
        holder.wait()
    assert Path(str(path) + ".lock").exists()
    assert not window.files.offer_recovery() and [e.path for e in offered] == [path]


def test_a_bright_on_dark_image_is_shown_as_it_is_and_said_to_be_read_as_its_negative(window, tmp_path):
    from karyostudio.io.images import write_image
    from karyostudio.synth import SynthConfig, generate_metaphase, rng_for

    image = generate_metaphase(rng_for(3, 0), SynthConfig(size=256)).image
    write_image(tmp_path / "bright-field.png", image)
    write_image(tmp_path / "fluorescence.png", 255 - image)
    assert window.files.open_path(tmp_path / "bright-field.png")
    assert "negative" not in window.status.currentMessage()
    assert window.files.open_path(tmp_path / "fluorescence.png")
    assert "read it as its negative" in window.status.currentMessage()
    assert np.array_equal(window.session.image, 255 - image)  # the data is untouched
