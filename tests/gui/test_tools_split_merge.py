"""Split along a drawn line and merge selected outlines; the tools' actions, menus and shortcuts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QToolBar

from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import polygon_area
from karyostudio.gui.dialogs.shortcuts import shortcut_rows

from tests.gui.helpers import square
from tests.gui.tool_helpers import click, drag, prepare, undo_redo_round_trip


@pytest.fixture
def outlines(window, image_file, qtbot):
    """A named 60 x 20 bar, two overlapping squares and a separate one."""
    bar = [[10, 100], [70, 100], [70, 120], [10, 120]]
    prepare(window, qtbot, image_file, [
        Instance(id=1, polygon=bar, label="3", reviewed=True),
        Instance(id=2, polygon=square(100, 20, 30), label="5"),
        Instance(id=3, polygon=square(120, 40, 30)),
        Instance(id=4, polygon=square(160, 100, 20)),
    ])
    return window


def test_split_with_a_line_replaces_the_outline_by_its_pieces(outlines, qtbot):
    window = outlines
    doc = window.session.document
    before = doc.snapshot()
    qtbot.keyClick(window.view, Qt.Key.Key_S)
    assert window.view.tool is window.edit_tools.split
    drag(qtbot, window, [(50, 95), (50, 105), (51, 115), (50, 125)])  # nothing selected: the crossed one
    assert len(doc) == 5 and window.session.history.undo_text == "split outline"
    large, small = doc.get(1), doc.get(5)
    assert polygon_area(large.polygon) == pytest.approx(40 * 20, rel=0.03)
    assert polygon_area(small.polygon) == pytest.approx(20 * 20, rel=0.06)
    assert large.label == "3" and small.label is None  # the largest keeps the name
    assert not large.reviewed and not small.reviewed
    assert window.selection.ids == {1, 5}
    undo_redo_round_trip(window, before, doc.snapshot())


def test_a_line_that_does_not_cross_an_outline_splits_nothing(outlines, qtbot):
    window = outlines
    before = window.session.document.snapshot()
    qtbot.keyClick(window.view, Qt.Key.Key_S)
    drag(qtbot, window, [(30, 105), (40, 110)])  # inside the bar only
    assert window.session.document.snapshot() == before
    assert "cross" in window.status.currentMessage()
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert window.view.tool is window.select_tool


def test_merge_overlapping_outlines_with_m(outlines, qtbot):
    window = outlines
    doc = window.session.document
    before = doc.snapshot()
    click(qtbot, window, 110, 30)
    click(qtbot, window, 140, 60, modifier=Qt.KeyboardModifier.ControlModifier)
    assert window.selection.ids == {2, 3}
    qtbot.keyClick(window.view, Qt.Key.Key_M)
    assert len(doc) == 3 and 3 not in doc
    merged = doc.get(2)
    assert polygon_area(merged.polygon) == pytest.approx(900 + 900 - 100)
    assert merged.label == "5" and window.selection.ids == {2}
    assert window.session.history.undo_text == "merge 2 outlines"
    undo_redo_round_trip(window, before, doc.snapshot())


def test_merge_refuses_separate_outlines_and_a_single_one(outlines, qtbot):
    window = outlines
    before = window.session.document.snapshot()
    click(qtbot, window, 110, 30)
    qtbot.keyClick(window.view, Qt.Key.Key_M)
    assert "select two or more" in window.status.currentMessage()
    click(qtbot, window, 170, 110, modifier=Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.view, Qt.Key.Key_M)
    assert "do not touch" in window.status.currentMessage()
    assert window.session.document.snapshot() == before


def test_tool_actions_are_in_menus_toolbar_and_shortcut_list(window):
    tools = window.edit_tools.actions
    tools_menu, edit_menu = window.menus.tools.actions(), window.menus.edit.actions()
    assert {tools.brush_tool, tools.split_tool, tools.grabcut_tool} <= set(tools_menu)
    assert {tools.merge, tools.insert_vertex, tools.delete_vertex} <= set(edit_menu)
    toolbar = window.findChild(QToolBar, "toolbar_main").actions()
    assert {tools.brush_tool, tools.split_tool, tools.grabcut_tool, tools.merge} <= set(toolbar)
    listed = {text for _, text in shortcut_rows(window.actions())}
    assert {"Brush", "GrabCut outline", "Merge outlines", "Insert vertex", "Delete vertex"} <= listed
    seen: dict[str, str] = {}
    for action in window.actions():  # every window shortcut, this module's and the rest
        for key in action.shortcuts():
            text = key.toString(QKeySequence.SequenceFormat.PortableText)
            assert text not in seen, f"{text} is bound to both {seen[text]} and {action.text()}"
            seen[text] = action.text()
    tools.grabcut_tool.trigger()
    assert tools.grabcut_tool.isChecked() and not window.act.select_tool.isChecked()
    assert window.view.tool is window.edit_tools.grabcut
