"""Autosave under a steady stream of edits, unusable recovery folders, write-protected targets, EXIF."""

from __future__ import annotations

import io
import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from karyostudio.core.commands import AddInstances, SetLabel
from karyostudio.core.document import Document
from karyostudio.core.instance import Instance
from karyostudio.gui.autosave import Autosaver
from karyostudio.gui.main_window import MainWindow
from karyostudio.workspace.session import Session
from karyostudio.io.images import ORIENTATION_KEY
from karyostudio.io.labelme import read_labelme

from tests.gui.helpers import square


def _session() -> Session:
    session = Session(Document(image_size=(100, 100)))
    session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 20), label="1")]))
    session.history.mark_clean()
    return session


def test_edits_every_100_ms_are_still_saved_within_the_maximum_wait(qtbot, tmp_path):
    """The debounce alone (restarted by every edit) would never write while edits keep coming."""
    saver = Autosaver(tmp_path / "recovery", delay_ms=300, max_wait_ms=800)
    session = _session()
    saver.set_session(session)
    written_at = []
    started = time.monotonic()
    labels = [str(k) for k in range(1, 23)]
    for k in range(20):  # 2 s of edits, 100 ms apart: the debounce never fires
        session.history.push(SetLabel([1], labels[k]))
        qtbot.wait(100)
        files = list((tmp_path / "recovery").glob("*.json"))
        if files and not written_at:
            written_at.append(time.monotonic() - started)
    assert written_at, "nothing was written during 2 s of steady edits"
    assert written_at[0] < 1.5  # the maximum wait (0.8 s) plus timer slack
    [recovery] = (tmp_path / "recovery").glob("*.json")
    qtbot.waitUntil(lambda: read_labelme(recovery).instances[0].label == labels[19], timeout=2000)
    saver.set_session(None)


@pytest.mark.parametrize("kind", ["a file", "below a file", "read-only"])
def test_an_unusable_recovery_folder_warns_and_the_app_runs_without_recovery(qtbot, tmp_path, messages, kind,
                                                                              image_file):
    if kind == "a file":
        folder = tmp_path / "recovery-file"
        folder.write_text("not a folder")
    elif kind == "below a file":
        (tmp_path / "plain").write_text("x")
        folder = tmp_path / "plain" / "recovery"
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)  # 0500: refused by its mode bits, even for root
    try:
        window = MainWindow(predictor_loader=lambda name: None, model_lister=lambda: [],
                            recovery_directory=folder, autosave_delay_ms=50)
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: bool(messages.warnings), timeout=3000)
        assert not window.autosaver.enabled
        assert str(folder) in messages.warnings[0] and "without recovery" in messages.warnings[0]
        # Everything else works: open, edit, save.
        assert window.files.open_path(image_file)
        window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30), label="5")]))
        qtbot.wait(200)
        assert window.files.save_to(tmp_path / "saved.json")
        assert read_labelme(tmp_path / "saved.json").instances[0].label == "5"
        window.discard_and_close()
    finally:
        if kind == "read-only":
            folder.chmod(0o755)
    if kind == "read-only":
        assert list(folder.iterdir()) == []


def test_saving_over_a_write_protected_file_is_refused(window, image_file, tmp_path, messages):
    target = tmp_path / "cell.json"
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(10, 10, 30), label="5")]))
    assert window.files.save_to(target)
    before = target.read_bytes()
    target.chmod(0o444)
    try:
        window.session.history.push(SetLabel([1], "6"))
        assert not window.files.save_to(target)
        assert "write-protected" in messages.errors[-1] and str(target) in messages.errors[-1]
        assert target.read_bytes() == before
        assert stat.S_IMODE(target.stat().st_mode) == 0o444
        assert window.session.dirty  # the edit is still unsaved, not lost
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        target.chmod(0o644)


def test_a_rotated_jpeg_opens_upright_and_the_saved_file_says_so(window, tmp_path):
    stored = np.full((40, 100), 200, np.uint8)  # wide as stored ...
    stored[5:15, 80:95] = 20
    exif = Image.Exif()
    exif[0x0112] = 6  # ... shown rotated 90 degrees clockwise: tall
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="JPEG", exif=exif, quality=100)
    path = tmp_path / "phone.jpg"
    path.write_bytes(buffer.getvalue())
    assert window.files.open_path(path)
    assert window.session.image.shape == (100, 40)
    assert window.session.document.image_size == (40, 100)
    window.session.history.push(AddInstances([Instance(id=1, polygon=square(5, 5, 10), label="1")]))
    assert window.files.save_to(tmp_path / "phone.json")
    data = json.loads((tmp_path / "phone.json").read_text())
    assert (data["imageWidth"], data["imageHeight"]) == (40, 100)
    assert data[ORIENTATION_KEY]["exifOrientation"] == 6 and data[ORIENTATION_KEY]["applied"] is True
    assert os.path.basename(data["imagePath"]) == "phone.jpg"


def test_screenshot_to_a_write_protected_path_is_a_one_line_error(image_file, tmp_path):
    import argparse

    from karyostudio.cli import CommandError
    from karyostudio.cli import gui as gui_command

    parser = argparse.ArgumentParser()
    gui_command.add_arguments(parser)
    folder = tmp_path / "shots"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(CommandError, match="cannot write the screenshot: .*write-protected"):
            gui_command.run(parser.parse_args([str(image_file), "--screenshot", str(folder / "shot.png")]))
    finally:
        folder.chmod(0o755)
    shot = tmp_path / "kept.png"
    shot.write_bytes(b"old")
    shot.chmod(0o444)
    try:
        with pytest.raises(CommandError, match="write-protected"):
            gui_command.run(parser.parse_args([str(image_file), "--screenshot", str(shot)]))
    finally:
        shot.chmod(0o644)
    assert shot.read_bytes() == b"old"


def _labelme_with_unknown_labels(path: Path, labels: list[str]) -> Path:
    shapes = [{"label": lb, "points": square(10 + 30 * k, 10, 20).tolist(), "shape_type": "polygon"}
              for k, lb in enumerate(labels)]
    path.write_text(json.dumps({"version": "5.5.0", "shapes": shapes, "imagePath": "", "imageData": None,
                                "imageHeight": 160, "imageWidth": 200}))
    return path


def test_opening_a_file_with_unknown_labels_shows_the_reader_warnings(window, tmp_path, messages):
    path = _labelme_with_unknown_labels(tmp_path / "cell.json", ["1", "-1", "chr1", "2"])
    assert window.files.open_path(path)
    [text] = messages.warnings
    assert "2 shape(s) could not be read" in text and "'-1'" in text and "'chr1'" in text
    assert sorted(i.label for i in window.session.document) == ["1", "2"]


def test_evaluation_panel_shows_reader_warnings_and_refuses_all_unknown(window, tmp_path, messages):
    panel = window.lab.evaluation
    panel.refresh_models()
    gt = _labelme_with_unknown_labels(tmp_path / "gt.json", ["-1", "119"])
    panel.gt.setText(str(gt))
    assert not panel.start()
    assert "every one of the 2 shape(s) of the ground truth was skipped" in panel.status.text()
    assert messages.warnings and "'119'" in messages.warnings[-1]
