"""The karyotype line (ISCN validation, stored override) and karyogram export (PNG, SVG, PDF, screenshot)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from karyostudio.core.karyotype import karyotype_string
from karyostudio.gui.karyogram.export import ExportError, ExportMetadata, export_karyogram
from karyostudio.gui.karyogram.karyotype_edit import KARYOTYPE_OVERRIDE_KEY
from karyostudio.workspace.session import Session
from tests.gui.test_karyogram import kwin, make_session  # noqa: F401  (fixture)

# The test cell counts 7 single chromosomes (1, 1, 2, 21 x3, one unnamed); the cluster is left out.
COUNTED = karyotype_string(["1", "1", "2", "21", "21", "21", None])


def type_karyotype(qtbot, bar, text: str) -> None:
    bar.field.setFocus()
    bar.field.selectAll()
    qtbot.keyClicks(bar.field, text)


def test_invalid_iscn_turns_red_with_the_reason_and_stores_nothing(kwin, qtbot):
    bar = kwin.karyogram.karyotype_bar
    assert bar.field.text() == COUNTED and COUNTED.startswith("7,U,-2,-3,")
    type_karyotype(qtbot, bar, "47,XX")
    assert bar.error is not None and "does not match" in bar.error
    assert "not valid ISCN" in bar.status.text() and "ffd6d6" in bar.field.styleSheet()
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    assert KARYOTYPE_OVERRIDE_KEY not in kwin.session.extra and not kwin.session.history.can_undo


def test_valid_iscn_is_stored_undoably_and_saved_with_the_file(kwin, qtbot, tmp_path):
    bar, session = kwin.karyogram.karyotype_bar, kwin.session
    type_karyotype(qtbot, bar, "47,XX,+21")
    assert bar.error is None and bar.field.styleSheet() == ""
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    assert session.extra[KARYOTYPE_OVERRIDE_KEY] == "47,XX,+21"
    assert session.dirty and "47,XX,+21" in session.history.undo_text
    assert "reviewer's karyotype" in bar.status.text()
    recovery = [json.loads(f.read_text()) for f in (tmp_path / "recovery").glob("*.json")]
    assert [r[KARYOTYPE_OVERRIDE_KEY] for r in recovery] == ["47,XX,+21"]  # the recovery file has it at once

    kwin.act.undo.trigger()
    assert KARYOTYPE_OVERRIDE_KEY not in session.extra and bar.field.text() == COUNTED
    kwin.act.redo.trigger()
    assert bar.field.text() == "47,XX,+21"

    path = session.save(tmp_path / "cell.json")
    assert json.loads(path.read_text())[KARYOTYPE_OVERRIDE_KEY] == "47,XX,+21"
    reopened = Session.open(path)
    kwin.set_session(reopened)
    assert kwin.karyogram.karyotype_bar.field.text() == "47,XX,+21"
    kwin.karyogram.karyotype_bar.use_counted()  # "Auto": back to the counted string, one undo step
    assert KARYOTYPE_OVERRIDE_KEY not in reopened.extra and reopened.history.can_undo


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_export_writes_a_valid_file_with_the_metadata(kwin, tmp_path, suffix):
    meta = ExportMetadata("case-0417/cell-3", "47,XX,+21", "2026-11-22", "Dr. Ada Lovelace")
    path = tmp_path / f"karyogram{suffix}"
    assert kwin.karyogram.export_to(path, meta)
    data = path.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    if suffix == ".png":
        image = QImage(str(path))
        assert (image.width(), image.height()) == (3508, 2480)  # A4 landscape at 300 dpi
        assert round(image.dotsPerMeterX() * 0.0254) == 300
        assert "case-0417/cell-3" in image.text("Description") and "Dr. Ada Lovelace" in image.text("Description")
        assert Image.open(path).getpixel((2, 2))[:3] == (255, 255, 255)
    elif suffix == ".svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        text = " ".join(t for t in root.itertext())
        for value in ("case-0417/cell-3", "47,XX,+21", "2026-11-22", "Dr. Ada Lovelace"):
            assert value in text
        # one image per placed chromosome: the unnamed outline and the cluster are left out
        assert len(list(root.iter("{http://www.w3.org/2000/svg}image"))) == 6
        size_mm = (float(root.get("width").removesuffix("mm")), float(root.get("height").removesuffix("mm")))
        assert size_mm == pytest.approx((297, 210), abs=0.1)
    else:
        assert data.startswith(b"%PDF")
        for value in (b"case-0417/cell-3", b"47,XX,+21", b"2026-11-22", b"Dr. Ada Lovelace"):
            assert value in data  # the XMP metadata holds them as plain text


def test_export_refuses_unknown_formats_and_keeps_the_old_file(kwin, tmp_path):
    meta = ExportMetadata.today("cell", "46,XX")
    with pytest.raises(ExportError, match="use one of"):
        export_karyogram(kwin.karyogram.scene, tmp_path / "k.jpg", meta)
    target = tmp_path / "k.png"
    target.write_bytes(b"old")
    kwin.karyogram.export_to(target, meta)
    assert target.read_bytes().startswith(b"\x89PNG")


def test_export_dialog_remembers_the_reviewer(kwin, tmp_path, monkeypatch):
    from karyostudio.gui.karyogram import export_dialog

    def fake_exec(dialog):
        dialog.reviewer.setText("R. Franklin")
        dialog.path.setText(str(tmp_path / "out.svg"))
        dialog.accept()
        return export_dialog.ExportDialog.DialogCode.Accepted

    monkeypatch.setattr(export_dialog.ExportDialog, "exec", fake_exec)
    kwin.karyogram.act_export.trigger()
    assert b"R. Franklin" in (tmp_path / "out.svg").read_bytes()
    dialog = export_dialog.ExportDialog("c", "46,XX", tmp_path / "x.png")
    assert dialog.reviewer.text() == "R. Franklin"
    dialog.path.setText(str(tmp_path / "x.gif"))
    dialog.accept()
    assert "must end in" in dialog.error.text() and dialog.result() != export_dialog.ExportDialog.DialogCode.Accepted


def test_screenshot_with_the_karyogram(tmp_path: Path, monkeypatch):
    from karyostudio.gui import app
    from tests.gui.test_cli_gui import run_in_process

    seen = []
    original = app.write_screenshot

    def recording(window, path):
        karyogram = window.karyogram
        seen.append((not karyogram.pane.visibleRegion().isEmpty(), karyogram.pane.width(),
                     len(karyogram.scene.chromosome_items())))
        original(window, path)

    monkeypatch.setattr(app, "write_screenshot", recording)
    source = make_session().save(tmp_path / "cell.json")
    plain, shown = tmp_path / "plain.png", tmp_path / "shot.png"
    assert run_in_process(str(source), "--screenshot", str(plain)) == 0
    assert run_in_process(str(source), "--screenshot", str(shown), "--karyogram") == 0
    (_, plain_width, _), (visible, width, chromosomes) = seen
    assert visible and chromosomes == 8 and width > plain_width * 0.9
    assert width >= 0.4 * Image.open(shown).size[0]  # the karyogram takes about half the window
    a = np.asarray(Image.open(plain).convert("L"), dtype=np.int16)
    b = np.asarray(Image.open(shown).convert("L"), dtype=np.int16)
    assert a.shape == b.shape and (np.abs(a - b) > 30).mean() > 0.01  # --karyogram gives it more room


def test_export_while_hidden_shows_the_latest_changes(kwin, tmp_path):
    karyogram = kwin.karyogram
    karyogram.act_show.trigger()  # hide: the scene stops following edits
    kwin.selection.set([3])
    kwin.set_label("5")
    assert karyogram.scene.pending and 3 not in karyogram.scene.slot_ids("5")
    assert karyogram.export_to(tmp_path / "k.svg")
    assert karyogram.scene.slot_ids("5") == [3]
    assert kwin.session.key.encode() in (tmp_path / "k.svg").read_bytes()


def test_export_leaves_out_ideograms_and_unplaced_objects_unless_asked(kwin, tmp_path):
    from karyostudio.gui.karyogram.export import ExportOptions

    scene = kwin.karyogram.scene
    assert scene.ideograms  # shown in the app
    meta = ExportMetadata.today("case", "46,XX")
    with scene.export_page(ideograms=False, include_unplaced=False, header=meta.lines()) as page:
        assert scene.page.slot("1").ideogram is None
        assert not any(page.contains(scene.item_for(i).sceneBoundingRect().center()) for i in (7, 8))
    with scene.export_page(ideograms=True, include_unplaced=True, header=meta.lines()) as page:
        assert scene.page.slot("1").ideogram is not None
        assert all(page.contains(scene.item_for(i).sceneBoundingRect().center()) for i in (7, 8))
    assert scene.page.slot("1").ideogram is not None  # the app's view is back as it was
    assert not scene.page_rect.contains(scene.item_for(7).sceneBoundingRect().center())
    path = tmp_path / "all.svg"
    assert kwin.karyogram.export_to(path, meta, ExportOptions(include_unplaced=True))
    assert len(list(ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}image"))) == 8


def test_export_header_names_case_cell_karyotype_date_and_reviewer(kwin, tmp_path):
    meta = ExportMetadata("case-9", "46,XX", "2026-12-02", "R. Franklin", cell="cell-4",
                          counts="46 chromosomes")
    assert meta.lines() == ["Case: case-9    Cell: cell-4", "Karyotype: 46,XX    (46 chromosomes)",
                            "Date: 2026-12-02    Reviewer: R. Franklin"]
    path = tmp_path / "k.svg"
    assert kwin.karyogram.export_to(path, meta)
    text = " ".join(ET.parse(path).getroot().itertext())
    for value in ("case-9", "cell-4", "46,XX", "2026-12-02", "R. Franklin"):
        assert value in text
