"""Brush paint and erase on the selected outline, through real mouse and key events."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import polygon_area

from tests.gui.helpers import square
from tests.gui.tool_helpers import click, drag, prepare, undo_redo_round_trip


@pytest.fixture
def brushing(window, image_file, qtbot):
    """A 40 px square outline (20..60), named, selected; the brush tool on, radius 4."""
    prepare(window, qtbot, image_file, [Instance(id=1, polygon=square(20, 20, 40), label="7"),
                                        Instance(id=2, polygon=square(100, 80, 50))])
    click(qtbot, window, 40, 40)
    qtbot.keyClick(window.view, Qt.Key.Key_B)
    assert window.view.tool is window.edit_tools.brush
    window.edit_tools.brush.set_radius(4.0)
    return window


def area(window, instance_id: int = 1) -> float:
    return polygon_area(window.session.document.get(instance_id).polygon)


def test_paint_grows_the_outline_as_one_undo_step(brushing, qtbot):
    window = brushing
    before = window.session.document.snapshot()
    drag(qtbot, window, [(50, 40), (60, 40), (70, 40), (75, 40)])
    # outside the square: a 15 x 8 band and a half disc of radius 4 (screen rounding: 3 %)
    assert area(window) == pytest.approx(1600 + 15 * 8 + math.pi * 16 / 2, rel=0.03)
    doc = window.session.document
    assert doc.get(1).label == "7" and len(doc) == 2
    assert window.session.history.undo_text == "brush: paint"
    undo_redo_round_trip(window, before, doc.snapshot())


def test_right_drag_erases_and_a_cut_through_makes_two_outlines(brushing, qtbot):
    window = brushing
    doc = window.session.document
    before = doc.snapshot()
    drag(qtbot, window, [(60, 30), (50, 30)], button=Qt.MouseButton.RightButton)
    assert area(window) < 1600 - 8 * 10 * 0.9
    assert len(doc) == 2
    undo_redo_round_trip(window, before, doc.snapshot())
    window.editor.undo()

    # Shift+drag right across, nearer the top: two pieces, the larger keeps id 1 and the name
    drag(qtbot, window, [(10, 30), (40, 30), (70, 30)], modifier=Qt.KeyboardModifier.ShiftModifier)
    assert len(doc) == 3 and window.session.history.undo_text == "brush: erase"
    new = doc.get(3)
    assert doc.get(1).label == "7" and new.label is None
    assert area(window, 1) == pytest.approx(40 * 26, rel=0.05) and area(window, 3) == pytest.approx(40 * 6, rel=0.1)
    assert window.selection.ids == {1, 3}
    assert window.editor.undo() and doc.snapshot() == before


def test_brackets_change_the_size_and_right_drag_opens_no_menu(brushing, qtbot):
    window = brushing
    brush = window.edit_tools.brush
    qtbot.keyClick(window.view, Qt.Key.Key_BracketRight)
    assert brush.radius == pytest.approx(5.0)
    qtbot.keyClick(window.view, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(window.view, Qt.Key.Key_BracketLeft)
    assert brush.radius == pytest.approx(3.2)
    menus = []
    window.view.context_menu_requested.disconnect(window._context_menu)  # no blocking menu in tests
    window.view.context_menu_requested.connect(lambda *args: menus.append(args))
    viewport = window.view.viewport()

    def menu_event():
        return QContextMenuEvent(QContextMenuEvent.Reason.Mouse, QPoint(50, 50), viewport.mapToGlobal(QPoint(50, 50)))

    QApplication.sendEvent(viewport, menu_event())
    assert menus == []
    qtbot.keyClick(window.view, Qt.Key.Key_V)  # back to selecting: the canvas menu works again
    QApplication.sendEvent(viewport, menu_event())
    assert len(menus) == 1


def test_a_stroke_outside_every_outline_changes_nothing(brushing, qtbot):
    window = brushing
    window.selection.clear()
    before = window.session.document.snapshot()
    drag(qtbot, window, [(80, 20), (90, 20)])
    assert window.session.document.snapshot() == before
    assert "select an outline" in window.status.currentMessage()
