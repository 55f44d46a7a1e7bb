"""Editing on the canvas through real mouse and key events; every edit is one undo step."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from karyostudio.core.commands import AddInstances
from karyostudio.core.instance import Instance

from tests.gui.helpers import square


@pytest.fixture
def editing(window, image_file, qtbot):
    """The window with an image and three unnamed outlines, the canvas focused."""
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances([
        Instance(id=1, polygon=square(20, 20, 40)),
        Instance(id=2, polygon=square(100, 80, 50)),
        Instance(id=3, polygon=square(150, 10, 30)),
    ]))
    window.view.fit_to_window()
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(lambda: window.view.hasFocus())
    return window


def at(window, x: float, y: float):
    return window.view.mapFromScene(QPointF(x, y))


def click_instance(qtbot, window, x: float, y: float) -> None:
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=at(window, x, y))


def test_click_selects_in_canvas_and_list(editing, qtbot):
    window = editing
    click_instance(qtbot, window, 40, 40)
    assert window.selection.ids == {1}
    rows = window.instance_panel.table.selectionModel().selectedRows()
    assert [index.data() for index in rows] == ["1"]
    # and the other way round: selecting a row selects the outline
    window.instance_panel.table.selectRow(2)
    assert window.selection.ids == {3}
    assert window.scene.item_for(3).isSelected() and not window.scene.item_for(1).isSelected()


def test_vertex_drag_with_mouse_then_undo_redo(editing, qtbot):
    window = editing
    viewport = window.view.viewport()
    click_instance(qtbot, window, 40, 40)
    before = window.session.document.get(1).polygon.copy()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(window, 60, 60))  # vertex 2
    qtbot.mouseMove(viewport, pos=at(window, 65, 68))
    qtbot.mouseMove(viewport, pos=at(window, 70, 75))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(window, 70, 75))

    moved = window.session.document.get(1).polygon
    tolerance = 1.0 / window.view.zoom  # one screen pixel
    assert np.allclose(moved[2], (70, 75), atol=tolerance)
    assert np.array_equal(np.delete(moved, 2, axis=0), np.delete(before, 2, axis=0))
    assert np.array_equal(window.scene.item_for(1).points, moved)
    assert window.session.history.undo_text == "edit outline"

    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(window.session.document.get(1).polygon, before)
    assert np.array_equal(window.scene.item_for(1).points, before)
    qtbot.keyClick(window.view, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(window.session.document.get(1).polygon, moved)


def test_relabel_by_keys_including_two_digit_classes(editing, qtbot):
    window = editing
    doc = window.session.document
    click_instance(qtbot, window, 40, 40)
    qtbot.keyClick(window.view, Qt.Key.Key_7)
    assert doc.get(1).label == "7" and doc.get(1).reviewed
    depth = len(window.session.history._undo)

    qtbot.keyClick(window.view, Qt.Key.Key_2)
    assert doc.get(1).label == "7"  # "2" waits: it may start 20-22
    qtbot.keyClick(window.view, Qt.Key.Key_1)
    assert doc.get(1).label == "21"
    assert len(window.session.history._undo) == depth + 1  # "2", "1" is one step

    qtbot.keyClick(window.view, Qt.Key.Key_0)
    assert doc.get(1).label == "10"
    qtbot.keyClick(window.view, Qt.Key.Key_X)
    assert doc.get(1).label == "X"
    qtbot.keyClick(window.view, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: doc.get(1).label == "2", timeout=3000)  # alone, after the time-out

    for expected in ("X", "10", "21", "7"):
        window.act.undo.trigger()
        assert doc.get(1).label == expected
    assert window.scene.item_for(1).tag.text.startswith("7")
    window.act.undo.trigger()
    assert doc.get(1).label is None and not doc.get(1).reviewed


def test_relabel_from_the_instance_list(editing, qtbot):
    window = editing
    table = window.instance_panel.table
    table.selectRow(1)
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_1)
    qtbot.keyClick(table, Qt.Key.Key_5)
    assert window.session.document.get(2).label == "15"
    assert table.model().index(1, 1).data() == "15"


def test_delete_and_review_then_undo(editing, qtbot):
    window = editing
    doc = window.session.document
    click_instance(qtbot, window, 120, 100)
    qtbot.keyClick(window.view, Qt.Key.Key_R)
    assert doc.get(2).reviewed
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert 2 not in doc and window.scene.item_for(2) is None
    assert window.instance_panel.model.rowCount() == 2 and not window.selection
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert 2 in doc and doc.get(2).reviewed and window.scene.item_for(2) is not None
    assert window.instance_panel.model.rowCount() == 3
    assert [i.id for i in doc.instances] == [1, 2, 3]  # undo restores the order too


def test_draw_polygon_with_clicks(editing, qtbot):
    window = editing
    doc = window.session.document
    viewport = window.view.viewport()
    qtbot.keyClick(window.view, Qt.Key.Key_D)
    assert window.view.tool is window.draw_tool
    corners = [(10, 100), (60, 100), (60, 150), (10, 150)]
    for x, y in corners:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at(window, x, y))
    qtbot.keyClick(window.view, Qt.Key.Key_Return)

    assert len(doc) == 4
    new = doc.get(4)
    assert np.allclose(new.polygon, corners, atol=1.0 / window.view.zoom)
    assert new.label is None and new.source == "manual"
    assert window.selection.ids == {4}
    qtbot.keyClick(window.view, Qt.Key.Key_9)  # the new outline is ready to be named
    assert doc.get(4).label == "9"

    # Esc drops a half-drawn polygon, a second Esc goes back to selecting
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at(window, 100, 20))
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert window.draw_tool.points == []
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert window.view.tool is window.select_tool and len(doc) == 4

    window.act.undo.trigger()
    window.act.undo.trigger()
    assert 4 not in doc


def test_context_menu_labels_selection(editing, qtbot):
    window = editing
    click_instance(qtbot, window, 40, 40)
    menu = window.build_context_menu()
    texts = [a.text() for a in menu.actions()]
    assert texts[:3] == ["&Label as", window.act.toggle_reviewed.text(), window.act.delete.text()]
    group_a = menu.actions()[0].menu().actions()[0].menu()
    assert [a.text() for a in group_a.actions()] == ["1", "2", "3"]
    group_a.actions()[2].trigger()
    assert window.session.document.get(1).label == "3"
    menu.deleteLater()


def test_an_edit_touches_only_the_named_outline_among_500(window, monkeypatch):
    from karyostudio.core.commands import SetLabel
    from karyostudio.core.document import Document
    from karyostudio.gui.canvas.instance_item import InstanceItem
    from karyostudio.workspace.session import Session

    instances = [Instance(id=i + 1, polygon=square(20 * (i % 25), 20 * (i // 25), 15)) for i in range(500)]
    session = Session(Document.from_instances(instances, image_size=(500, 400)))
    window.set_session(session)
    items_before = {i: window.scene.item_for(i) for i in range(1, 501)}
    updated = []
    original = InstanceItem.set_instance
    monkeypatch.setattr(InstanceItem, "set_instance", lambda self, inst: updated.append(inst.id) or original(self, inst))
    changed_rows = []
    window.instance_panel.model.dataChanged.connect(lambda first, last: changed_rows.append((first.row(), last.row())))

    session.history.push(SetLabel([250], "5"))
    assert updated == [250]
    assert changed_rows == [(249, 249)]
    assert all(window.scene.item_for(i) is items_before[i] for i in range(1, 501))
    assert window.scene.item_for(250).tag.text == "5 \u2713"
