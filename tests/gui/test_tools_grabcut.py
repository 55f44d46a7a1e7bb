"""GrabCut on the canvas: box, click and strokes through real events; accept, name, cancel, undo."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.io.images import write_image

from tests.geometry.test_grabcut import MIN_IOU, bar_image, box_of, iou
from tests.gui.tool_helpers import click, drag, undo_redo_round_trip


@pytest.fixture
def bar_file(tmp_path):
    image, bar = bar_image()
    path = tmp_path / "bar.png"
    write_image(path, image)
    return path, bar


def open_grabcut(window, qtbot, path):
    assert window.files.open_path(path)
    window.view.fit_to_window()
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(lambda: window.view.hasFocus())
    qtbot.keyClick(window.view, Qt.Key.Key_G)
    assert window.view.tool is window.edit_tools.grabcut
    return window.edit_tools.grabcut


def test_box_then_enter_adds_the_refined_outline_as_one_step(window, qtbot, bar_file):
    path, bar = bar_file
    tool = open_grabcut(window, qtbot, path)
    doc = window.session.document
    x0, y0, x1, y1 = box_of(bar)
    drag(qtbot, window, [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1)])
    assert tool.outline is not None and len(doc) == 0  # a preview only
    assert iou(polygon_to_mask(tool.outline, bar.shape), bar) > MIN_IOU
    assert "GrabCut" in window.status.currentMessage()
    depth = len(window.session.history._undo)
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    assert len(doc) == 1 and len(window.session.history._undo) == depth + 1
    added = doc.instances[0]
    assert iou(polygon_to_mask(added.polygon, bar.shape), bar) > MIN_IOU
    assert added.label is None and added.source == "manual" and window.selection.ids == {added.id}
    assert tool.outline is None
    undo_redo_round_trip(window, (), doc.snapshot())


def test_escape_cancels_and_leaves_the_document_unchanged(window, qtbot, bar_file):
    path, bar = bar_file
    tool = open_grabcut(window, qtbot, path)
    click(qtbot, window, 120.5, 100.5)  # a click on the bar seeds it
    assert tool.outline is not None
    assert iou(polygon_to_mask(tool.outline, bar.shape), bar) > MIN_IOU
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert tool.outline is None and len(window.session.document) == 0
    assert not window.session.history.can_undo
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)  # a second Esc leaves the tool
    assert window.view.tool is window.select_tool


def test_class_key_accepts_and_names_in_one_step(window, qtbot, bar_file):
    path, bar = bar_file
    open_grabcut(window, qtbot, path)
    x0, y0, x1, y1 = box_of(bar)
    drag(qtbot, window, [(x0, y0), (x1, y1)])
    qtbot.keyClick(window.view, Qt.Key.Key_7)
    doc = window.session.document
    assert len(doc) == 1 and doc.instances[0].label == "7" and doc.instances[0].reviewed
    assert len(window.session.history._undo) == 1
    qtbot.keyClick(window.view, Qt.Key.Key_8)  # no preview: class keys name the selection as usual
    assert doc.instances[0].label == "8" and len(doc) == 1


def test_background_stroke_refines_and_sixteen_bit_images_work(window, qtbot, tmp_path):
    image, bar = bar_image(dtype=np.uint16, neighbours=False)
    blob = np.zeros_like(bar)
    blob[84:98, 122:136] = True  # stuck to the bar
    blob &= ~bar
    image[blob] = 70 * 40 + 1000
    path = tmp_path / "bar16.tif"
    write_image(path, image)
    tool = open_grabcut(window, qtbot, path)
    assert window.session.image.dtype == np.uint16
    x0, y0, x1, y1 = box_of(bar | blob, pad=6)
    drag(qtbot, window, [(x0, y0), (x1, y1)])
    assert (polygon_to_mask(tool.outline, bar.shape) & blob).sum() > 0.8 * blob.sum()
    window.view.zoom_by(2.0 / window.view.zoom)  # strokes are 4 screen px wide: 2 image px here
    window.view.centerOn(130, 90)
    scribble = [(123, 85), (135, 85), (135, 88), (123, 88), (123, 91), (135, 91), (135, 94), (123, 94),
                (123, 97), (135, 97)]  # back and forth over the whole blob
    drag(qtbot, window, scribble, button=Qt.MouseButton.RightButton)
    refined = polygon_to_mask(tool.outline, bar.shape)
    assert (refined & blob).sum() < 0.2 * blob.sum() and iou(refined, bar) > MIN_IOU
    assert len(window.session.document) == 0
    qtbot.keyClick(window.view, Qt.Key.Key_Enter)
    assert len(window.session.document) == 1 and len(window.session.history._undo) == 1


def test_an_empty_box_says_nothing_found_and_adds_nothing(window, qtbot, bar_file):
    path, _ = bar_file
    tool = open_grabcut(window, qtbot, path)
    drag(qtbot, window, [(5, 140), (30, 160), (60, 190)])  # the slide below the bar
    assert tool.outline is None and len(window.session.document) == 0
    assert "nothing found" in window.status.currentMessage()
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    assert len(window.session.document) == 0 and not window.session.history.can_undo


@pytest.mark.parametrize("replace", [True, False])
def test_an_outline_on_an_existing_one_asks_whether_it_replaces_it(window, qtbot, bar_file, messages, replace):
    from PySide6.QtWidgets import QMessageBox

    from karyostudio.core.commands import AddInstances
    from karyostudio.core.instance import Instance

    path, bar = bar_file
    tool = open_grabcut(window, qtbot, path)
    x0, y0, x1, y1 = box_of(bar)
    rough = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)
    window.session.history.push(AddInstances([Instance(7, rough, label="5", score=0.7, source="model")]))
    messages.answer = QMessageBox.StandardButton.Yes if replace else QMessageBox.StandardButton.No
    drag(qtbot, window, [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2), (x1, y1)])
    depth = len(window.session.history._undo)
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    assert messages.questions and "outline #7 (5)" in messages.questions[-1]
    doc = window.session.document
    assert len(window.session.history._undo) == depth + 1  # one undo step either way
    if replace:
        assert len(doc) == 1 and doc.get(7).label == "5" and doc.get(7).source == "manual"
        assert iou(polygon_to_mask(doc.get(7).polygon, bar.shape), bar) > MIN_IOU
    else:
        assert len(doc) == 2 and np.array_equal(doc.get(7).polygon, rough)
    window.act.undo.trigger()
    assert len(doc) == 1 and np.array_equal(doc.get(7).polygon, rough)
