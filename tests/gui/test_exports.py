"""File > Export: cell as labelme / COCO, case as COCO, case report as HTML and PDF."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog

import karyostudio.gui.exports as exports_module
from karyostudio.core.commands import AddInstances
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import polygon_area
from karyostudio.io.labelme import read_labelme

from tests.gui.case_folders import make_case


@pytest.fixture
def case_window(window, tmp_path):
    case = make_case(tmp_path / "case")
    assert window.case.open_case(case)
    return window, case


def _load_coco(path) -> COCO:
    coco = COCO(str(path))
    assert coco.dataset["categories"][0]["name"] == "1"
    return coco


def test_cell_as_coco_loads_in_pycocotools_with_matching_areas(case_window, tmp_path, monkeypatch):
    window, case = case_window
    assert window.case.open_cell(2)  # cell3: 46 outlines
    triangle = np.array([[30.0, 90.0], [70.0, 90.0], [50.0, 115.0]])
    window.session.history.push(AddInstances([Instance(id=200, polygon=triangle, label="Y")]))
    target = tmp_path / "out" / "cell3_coco.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    window.case.exports.cell_coco_action.trigger()
    coco = _load_coco(target)
    instances = window.session.document.instances
    assert len(coco.getAnnIds()) == len(instances) == 47 and len(coco.getImgIds()) == 1
    anns = coco.loadAnns(coco.getAnnIds())
    for ann, inst in zip(sorted(anns, key=lambda a: a["instance_id"]), sorted(instances, key=lambda i: i.id)):
        assert ann["area"] == pytest.approx(polygon_area(inst.polygon))
        rasterised = float(mask_utils.area(coco.annToRLE(ann)))
        assert abs(rasterised - ann["area"]) <= 0.2 * ann["area"] + 25
    y_ann = next(a for a in anns if a["instance_id"] == 200)
    assert y_ann["area"] == pytest.approx(500.0) and coco.cats[y_ann["category_id"]]["name"] == "Y"


def test_cell_as_labelme_keeps_the_open_document(case_window, tmp_path):
    window, case = case_window
    assert window.case.open_cell(1)  # cell2
    target = tmp_path / "elsewhere" / "copy.json"
    assert window.case.exports.export_cell_labelme(target)
    copy = read_labelme(target)
    assert len(copy.instances) == 46 and copy.image_path == case / "cell2.png"
    assert window.session.annotation_path == case / "cell2.json"  # an export is not a Save As


def test_case_as_one_coco_file(case_window, tmp_path):
    window, case = case_window
    target = tmp_path / "case_coco.json"
    assert window.case.exports.export_case_coco(target)
    coco = _load_coco(target)
    names = sorted(img["file_name"] for img in coco.dataset["images"])
    assert names == ["cell10.png", "cell2.png", "cell3.png"]  # cell1 is not started
    assert len(coco.getAnnIds()) == 46 + 46 + 45
    per_image = {coco.imgs[i]["file_name"]: len(coco.getAnnIds(imgIds=[i])) for i in coco.getImgIds()}
    assert per_image == {"cell2.png": 46, "cell3.png": 46, "cell10.png": 45}
    assert json.loads(target.read_text())["images"][0]["path"].startswith("case/")


def test_case_report_html_and_pdf(case_window, tmp_path, monkeypatch):
    window, case = case_window
    html_path = tmp_path / "report.html"
    assert window.case.exports.export_case_report(html_path, "Dr. Lee", date=datetime.date(2026, 3, 1))
    html = html_path.read_text()
    for name, status in (("cell1", "not started"), ("cell2", "auto"), ("cell3", "reviewed"),
                         ("cell10", "reviewed")):
        assert f"<td>{name}</td><td>{status}</td>" in html
    assert "Case case" in html and "2026-03-01" in html and "Reviewer: Dr. Lee" in html
    assert "modal number 46" in html and "<tr><td>46,XX</td><td>2</td></tr>" in html

    pdf_path = tmp_path / "report.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(pdf_path), "")))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("Dr. Lee", True)))
    window.case.exports.case_report_action.trigger()
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF") and len(data) > 2000


def test_unwritable_target_shows_an_error_and_keeps_the_old_file(case_window, tmp_path, messages):
    window, case = case_window
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    assert not window.case.exports.export_case_coco(blocker / "case.json")
    assert len(messages.errors) == 1 and "could not be written" in messages.errors[0]
    existing = tmp_path / "old.html"
    existing.write_text("old report")
    existing.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        ok = window.case.exports.export_case_report(existing)
    finally:
        tmp_path.chmod(0o755)
    if not ok:  # root may write anywhere; otherwise the old file stays whole
        assert existing.read_text() == "old report" and len(messages.errors) == 2


def _cursor_shape():
    cursor = QApplication.overrideCursor()
    return None if cursor is None else cursor.shape()


def test_whole_case_export_shows_the_wait_cursor_and_its_notes_after(case_window, tmp_path, monkeypatch, messages):
    window, case = case_window
    (case / "cell2.json").write_text("{ broken")  # left out with a note
    seen: dict[str, object] = {}
    real_write_coco = exports_module.write_coco

    def watched_write_coco(path, annotations):
        seen["writing"] = _cursor_shape()
        return real_write_coco(path, annotations)

    monkeypatch.setattr(exports_module, "write_coco", watched_write_coco)
    monkeypatch.setattr(exports_module, "show_warning",
                        lambda parent, title, text: seen.setdefault("warning", (_cursor_shape(), text)))
    assert window.case.exports.export_case_coco(tmp_path / "case_coco.json")
    assert seen["writing"] == Qt.CursorShape.WaitCursor
    cursor_at_warning, text = seen["warning"]
    assert cursor_at_warning is None and "cell2" in text
    assert _cursor_shape() is None
