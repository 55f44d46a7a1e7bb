"""Vertex insert and delete on the selected outline, through real mouse and key events."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from karyostudio.core.instance import Instance

from tests.gui.helpers import square
from tests.gui.tool_helpers import at, click, drag, prepare, undo_redo_round_trip


@pytest.fixture
def selected(window, image_file, qtbot):
    """One 40 px square outline (vertices (20,20) (60,20) (60,60) (20,60)), selected."""
    prepare(window, qtbot, image_file, [Instance(id=1, polygon=square(20, 20, 40))])
    click(qtbot, window, 40, 40)
    assert window.selection.ids == {1}
    return window


def polygon(window) -> np.ndarray:
    return window.session.document.get(1).polygon


def test_double_click_on_an_edge_inserts_a_vertex(selected, qtbot):
    window = selected
    before = window.session.document.snapshot()
    qtbot.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=at(window, 40, 60))
    result = polygon(window)
    assert len(result) == 5
    assert np.allclose(result[3], (40, 60), atol=1.0 / window.view.zoom)  # between (60,60) and (20,60)
    assert window.session.history.undo_text == "insert vertex"
    assert len(window.session.history._undo) == 2  # the outlines, then one insert
    undo_redo_round_trip(window, before, window.session.document.snapshot())


def test_ctrl_click_inserts_and_drag_from_an_edge_inserts_and_moves(selected, qtbot):
    window = selected
    click(qtbot, window, 20, 40, modifier=Qt.KeyboardModifier.ControlModifier)
    assert len(polygon(window)) == 5 and window.selection.ids == {1}  # Ctrl+click did not deselect
    before = window.session.document.snapshot()
    drag(qtbot, window, [(60, 40), (70, 42), (80, 45)])
    result = polygon(window)
    assert len(result) == 6
    assert np.allclose(result[2], (80, 45), atol=1.0 / window.view.zoom)
    undo_redo_round_trip(window, before, window.session.document.snapshot())


def test_shift_or_alt_click_deletes_a_vertex_but_never_below_three(selected, qtbot):
    window = selected
    before = window.session.document.snapshot()
    click(qtbot, window, 60, 60, modifier=Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(polygon(window), [[20, 20], [60, 20], [20, 60]])
    assert window.session.history.undo_text == "delete vertex"
    after = window.session.document.snapshot()
    click(qtbot, window, 20, 20, modifier=Qt.KeyboardModifier.AltModifier)
    assert len(polygon(window)) == 3  # a triangle keeps its vertices
    assert "at least 3" in window.status.currentMessage()
    assert window.session.document.snapshot() == after
    undo_redo_round_trip(window, before, after)


def test_insert_and_delete_vertex_actions_act_under_the_cursor(selected, qtbot):
    window = selected
    viewport = window.view.viewport()
    qtbot.mouseMove(viewport, at(window, 60, 30))
    qtbot.keyClick(window.view, Qt.Key.Key_Insert)
    assert len(polygon(window)) == 5
    assert np.allclose(polygon(window)[2], (60, 30), atol=1.0 / window.view.zoom)
    qtbot.mouseMove(viewport, at(window, 20, 20))
    qtbot.keyClick(window.view, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)
    assert len(polygon(window)) == 4 and 1 in window.session.document  # the vertex went, not the outline
    assert not any(np.allclose(p, (20, 20)) for p in polygon(window))
    qtbot.mouseMove(viewport, at(window, 40, 40))  # inside, away from vertices and edges
    qtbot.keyClick(window.view, Qt.Key.Key_Delete, Qt.KeyboardModifier.ShiftModifier)
    assert len(polygon(window)) == 4
    assert "point at a vertex" in window.status.currentMessage()
