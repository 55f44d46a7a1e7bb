"""The karyogram pane: the clinical page beside the metaphase, drag to relabel, selection and hover
sync, flips, updates, the unplaced strip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from karyostudio.core.classes import KARYOGRAM_GROUPS, KARYOGRAM_ROWS
from karyostudio.core.document import Document
from karyostudio.core.instance import Instance
from karyostudio.core.orientation import ORIENTATION_ATTRIBUTE
from karyostudio.workspace.session import Session

# (label, cluster) of the test cell: one copy of 2 (one missing), three of 21 (one extra),
# one unnamed outline and one cluster; every other class is absent.
CELL = [("1", False), ("1", False), ("2", False), ("21", False), ("21", False), ("21", False),
        (None, False), (None, True)]


def bar(x: float, y: float, w: float = 10.0, h: float = 40.0) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def make_session() -> Session:
    image = np.full((200, 400), 230, np.uint8)
    instances = []
    for k, (label, cluster) in enumerate(CELL):
        x, y = 20 + 45 * k, 40 + 5 * k
        image[y:y + 40, x:x + 10] = 60
        image[y:y + 8, x:x + 10] = 20  # a dark top end, so flips are visible in the pixels
        attributes = {"cluster": True} if cluster else {}
        instances.append(Instance(id=k + 1, polygon=bar(x, y), label=label, score=0.9 - 0.05 * k,
                                  source="test", attributes=attributes))
    png = cv2.imencode(".png", image)[1].tobytes()  # embedded, so a saved file brings its image
    return Session(Document.from_instances(instances, image=image, image_size=(400, 200)), embedded_image=png)


@pytest.fixture
def kwin(window, qtbot):
    window.set_session(make_session())
    karyogram = window.karyogram
    karyogram.show_pane()  # View > Karyogram (shown by default)
    qtbot.waitUntil(lambda: karyogram.scene.page is not None and not karyogram.scene.pending)
    karyogram.pane.fit()
    return window


def centre_of(view, item) -> QPoint:
    rect = item.mapRectToScene(item.pixmap().rect().toRectF())
    return view.mapFromScene(rect.center())


def slot_centre(view, scene, name) -> QPoint:
    slot = scene.slot_item(name)
    return view.mapFromScene(slot.rect.center())


def in_view(target_view, source_view, point: QPoint) -> QPoint:
    """point of target_view's viewport in source_view's viewport coordinates (a drag across views)."""
    return source_view.viewport().mapFromGlobal(target_view.viewport().mapToGlobal(point))


def drag(view, start: QPoint, end: QPoint) -> None:
    viewport = view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(viewport, start + QPoint(8, 8))
    QTest.mouseMove(viewport, end)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def test_slots_follow_the_clinical_rows_with_missing_and_extra_copies(kwin):
    scene = kwin.karyogram.scene
    expected = [name for row in KARYOGRAM_ROWS for name in row]
    assert scene.slot_names() == expected
    rects = {name: scene.slot_item(name).rect for name in expected}
    for row in KARYOGRAM_ROWS:  # left to right within a row, one top per row, four rows
        assert [rects[n].left() for n in row] == sorted(rects[n].left() for n in row)
        assert len({rects[n].top() for n in row}) == 1
    tops = [rects[row[0]].top() for row in KARYOGRAM_ROWS]
    assert tops == sorted(tops) and len(set(tops)) == 4 == len(KARYOGRAM_GROUPS)
    page = scene.page_rect
    assert page.width() / page.height() == pytest.approx(297 / 210, abs=0.01)  # A4 landscape
    assert len(scene.slot_item("2").placeholders) == 1 and len(scene.slot_item("3").placeholders) == 2
    assert len(scene.slot_item("Y").placeholders) == 0  # no Y: a female cell expects none
    assert scene.page.extra == {6}  # the third 21 (lowest score) is marked extra
    for instance_id in (1, 2):  # homologues side by side inside their slot
        assert rects["1"].contains(scene.item_for(instance_id).sceneBoundingRect().center())


def test_unnamed_outlines_and_clusters_never_sit_in_the_rows(kwin):
    scene = kwin.karyogram.scene
    assert scene.unplaced == [7, 8]  # the unnamed outline, then the cluster
    for instance_id in (7, 8):
        centre = scene.item_for(instance_id).sceneBoundingRect().center()
        assert not scene.page_rect.contains(centre) and scene.strip_rect.contains(centre)
    assert "2 object(s)" in kwin.karyogram.pane.strip_label.text()


def test_dragging_from_the_strip_onto_a_slot_names_the_chromosome(kwin, qtbot):
    karyogram, doc = kwin.karyogram, kwin.session.document
    strip, view, scene = karyogram.strip_view, karyogram.view, karyogram.scene
    start = centre_of(strip, scene.item_for(7))
    end = in_view(view, strip, slot_centre(view, scene, "X"))
    drag(strip, start, end)
    assert doc.get(7).label == "X"
    qtbot.waitUntil(lambda: not scene.pending)
    assert scene.slot_ids("X") == [7] and scene.unplaced == [8]


def test_the_pane_sits_beside_the_metaphase_and_refits_when_resized(kwin, qtbot):
    karyogram = kwin.karyogram
    assert kwin.centralWidget() is karyogram.splitter
    assert karyogram.splitter.widget(0) is kwin.view and karyogram.splitter.widget(1) is karyogram.pane
    before = karyogram.view.transform().m11()
    total = sum(karyogram.splitter.sizes())
    karyogram.splitter.setSizes([total // 4, total - total // 4])
    qtbot.waitUntil(lambda: karyogram.view.transform().m11() > before * 1.2)
    page = karyogram.view.mapFromScene(karyogram.scene.page_rect).boundingRect()
    viewport = karyogram.view.viewport().rect()
    assert page.width() >= viewport.width() - 4 or page.height() >= viewport.height() - 4  # fitted, no button


def test_splitter_sizes_and_visibility_are_remembered(kwin, qtbot, tmp_path, fake_predictor):
    from karyostudio.gui.main_window import MainWindow
    from karyostudio.models.registry import ModelInfo

    karyogram = kwin.karyogram
    total = sum(karyogram.splitter.sizes())
    karyogram.splitter.setSizes([total // 3, total - total // 3])
    karyogram.splitter.splitterMoved.emit(total // 3, 1)  # what a drag of the handle sends
    karyogram.act_show.trigger()  # hide
    assert not karyogram.pane.isVisible()
    info = ModelInfo(fake_predictor.name, "fake", "test predictor", None, True)
    again = MainWindow(predictor_loader=lambda name: fake_predictor, model_lister=lambda: [info],
                       recovery_directory=tmp_path / "recovery2")
    qtbot.addWidget(again)
    try:
        assert not again.karyogram.act_show.isChecked() and not again.karyogram.pane.isVisibleTo(again)
        assert again.karyogram.splitter.saveState() == karyogram.splitter.saveState()
    finally:
        again.discard_and_close()


def test_drag_to_another_slot_relabels_as_one_undoable_step(kwin, qtbot):
    karyogram, history = kwin.karyogram, kwin.session.history
    view, scene, doc = karyogram.view, karyogram.scene, kwin.session.document
    drag(view, centre_of(view, scene.item_for(3)), slot_centre(view, scene, "5"))
    assert doc.get(3).label == "5" and doc.get(3).reviewed
    assert history.can_undo and "label 1" in history.undo_text
    qtbot.waitUntil(lambda: not scene.pending)
    assert 3 in scene.slot_ids("5")
    assert scene.slot_item("5").rect.contains(scene.item_for(3).sceneBoundingRect().center())

    kwin.act.undo.trigger()
    assert doc.get(3).label == "2" and not history.can_undo
    qtbot.waitUntil(lambda: not scene.pending)
    assert 3 in scene.slot_ids("2")
    kwin.act.redo.trigger()
    assert doc.get(3).label == "5"

    strip = karyogram.strip_view
    drag(view, centre_of(view, scene.item_for(4)), in_view(strip, view, strip.viewport().rect().center()))
    assert doc.get(4).label is None  # dropped on the strip: unnamed


def test_a_drag_onto_nothing_changes_nothing(kwin, qtbot):
    karyogram = kwin.karyogram
    view, scene = karyogram.view, karyogram.scene
    before = scene.item_for(1).pos()
    drag(view, centre_of(view, scene.item_for(1)), QPoint(2, 2))
    assert not kwin.session.history.can_undo
    assert scene.item_for(1).pos() == before


def test_selection_syncs_both_ways(kwin, qtbot):
    karyogram = kwin.karyogram
    view, scene = karyogram.view, karyogram.scene
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     centre_of(view, scene.item_for(4)))
    assert kwin.selection.ids == {4}
    assert kwin.scene.item_for(4).isSelected()  # the metaphase canvas
    rows = kwin.instance_panel.table.selectionModel().selectedRows()
    assert [int(r.data()) for r in rows] == [4]

    kwin.instance_panel.table.selectRow(1)  # rows are in id order: id 2
    assert kwin.selection.ids == {2}
    assert scene.item_for(2).isSelected() and not scene.item_for(4).isSelected()


def test_hover_syncs_between_karyogram_and_metaphase(kwin, qtbot):
    karyogram = kwin.karyogram
    view, scene = karyogram.view, karyogram.scene
    QTest.mouseMove(view.viewport(), centre_of(view, scene.item_for(5)))
    qtbot.waitUntil(lambda: kwin.selection.hovered == 5)
    assert karyogram.hover_outline.isVisible()
    centre = QPointF(*kwin.session.document.get(5).polygon.mean(0))
    assert karyogram.hover_outline.path().boundingRect().contains(centre)

    kwin.view.cursor_moved.emit(QPointF(25.0, 50.0))  # inside outline 1 on the metaphase
    assert kwin.selection.hovered == 1 and scene.item_for(1).hovered and not scene.item_for(5).hovered
    kwin.view.cursor_moved.emit(QPointF(5.0, 5.0))  # background
    assert kwin.selection.hovered is None and not karyogram.hover_outline.isVisible()


def test_flip_is_stored_on_the_instance_and_survives_undo_redo_and_saving(kwin, qtbot, tmp_path):
    karyogram, doc = kwin.karyogram, kwin.session.document
    scene = karyogram.scene
    before = scene.item_for(1).strip.pixels.copy()
    kwin.selection.set([1])
    karyogram.act_flip_vertical.trigger()
    assert doc.get(1).attributes[ORIENTATION_ATTRIBUTE]["flip_vertical"] is True
    qtbot.waitUntil(lambda: not scene.pending)
    np.testing.assert_array_equal(scene.item_for(1).strip.pixels, before[::-1])

    kwin.act.undo.trigger()
    assert ORIENTATION_ATTRIBUTE not in doc.get(1).attributes
    qtbot.waitUntil(lambda: not scene.pending)
    np.testing.assert_array_equal(scene.item_for(1).strip.pixels, before)
    kwin.act.redo.trigger()
    karyogram.act_rotate.trigger()  # vertical flip + 180 degrees = horizontal flip
    assert doc.get(1).attributes[ORIENTATION_ATTRIBUTE] == {"flip_vertical": False, "flip_horizontal": True}

    saved = kwin.session.save(tmp_path / "cell.json")
    reopened = Session.open(saved)
    assert reopened.document.get(1).attributes[ORIENTATION_ATTRIBUTE]["flip_horizontal"] is True


def test_updates_recompute_only_what_changed(kwin, qtbot):
    karyogram, scene = kwin.karyogram, kwin.karyogram.scene
    computed = scene.strips_computed
    kwin.selection.set([1, 2])
    kwin.set_label("7")  # a relabel moves chromosomes but keeps their pixels
    qtbot.waitUntil(lambda: not scene.pending)
    assert scene.strips_computed == computed
    assert scene.slot_ids("7") == [1, 2]
    karyogram.act_flip_horizontal.trigger()  # two outlines change pixels
    qtbot.waitUntil(lambda: not scene.pending)
    assert scene.strips_computed == computed + 2

    karyogram.act_show.trigger()  # hidden: changes wait until the karyogram is shown again
    kwin.selection.set([3])
    karyogram.act_flip_vertical.trigger()
    qtbot.wait(80)
    assert scene.strips_computed == computed + 2
    karyogram.act_show.trigger()
    qtbot.waitUntil(lambda: scene.strips_computed == computed + 3)


def test_straighten_toggle_rebuilds_every_chromosome(kwin, qtbot):
    karyogram, scene = kwin.karyogram, kwin.karyogram.scene
    assert karyogram.act_straighten.isChecked() and scene.straighten == "auto"  # bent ones, by default
    computed = scene.strips_computed
    karyogram.act_straighten.setChecked(False)
    qtbot.waitUntil(lambda: scene.strips_computed == computed + len(CELL))
    assert scene.straighten is False and len(scene.chromosome_items()) == len(CELL)


def test_ideograms_are_a_toggle(kwin, qtbot):
    karyogram, scene = kwin.karyogram, kwin.karyogram.scene
    assert karyogram.act_ideograms.isChecked() and not scene.slot_item("1").ideogram_rect.isEmpty()
    karyogram.act_ideograms.setChecked(False)
    assert scene.slot_item("1").ideogram_rect.isEmpty()


def test_view_menu_and_file_menu_entries(kwin):

    file_actions = kwin.menus.file.actions()
    assert file_actions.index(kwin.karyogram.act_export) == file_actions.index(kwin.act.quit) - 1
    assert kwin.karyogram.act_show in kwin.menus.view.actions()
    assert kwin.karyogram.act_ideograms in kwin.menus.view.actions()


def test_class_keys_name_the_selected_chromosome_in_the_karyogram(kwin, qtbot):
    karyogram = kwin.karyogram
    kwin.selection.set([7])  # the unnamed outline
    karyogram.view.setFocus()
    qtbot.keyClick(karyogram.view, Qt.Key.Key_X)
    assert kwin.session.document.get(7).label == "X"
    qtbot.waitUntil(lambda: not karyogram.scene.pending)
    assert karyogram.scene.slot_ids("X") == [7]


def test_hovering_a_row_of_the_instance_list_highlights_the_chromosome(kwin, qtbot):
    table, scene = kwin.instance_panel.table, kwin.karyogram.scene
    index = table.model().index(2, 0)  # rows are in id order: id 3
    QTest.mouseMove(table.viewport(), table.visualRect(index).center())
    qtbot.waitUntil(lambda: kwin.selection.hovered == 3)
    assert scene.item_for(3).hovered and kwin.karyogram.hover_outline.isVisible()


def test_many_cut_outs_are_made_in_slices_so_the_window_stays_responsive(window, qtbot, monkeypatch):
    from karyostudio.gui.karyogram import scene as scene_module

    monkeypatch.setattr(scene_module, "UPDATE_SLICE_S", 0.0)  # one cut-out per event-loop turn
    image = np.full((400, 800), 230, np.uint8)
    instances = []
    for k in range(40):
        x, y = 10 + (k % 20) * 38, 20 + (k // 20) * 180
        image[y:y + 40, x:x + 10] = 60
        instances.append(Instance(id=k + 1, polygon=bar(x, y), label=str(1 + k % 22), source="test"))
    scene = window.karyogram.scene
    window.set_session(Session(Document.from_instances(instances, image=image, image_size=(800, 400))))
    computed = scene.strips_computed
    qtbot.waitUntil(lambda: scene.strips_computed > computed)
    assert scene.pending and scene.strips_computed - computed < len(instances)  # not all in one go
    qtbot.waitUntil(lambda: not scene.pending, timeout=10_000)
    assert scene.strips_computed - computed == len(instances)
    assert all(item.isVisible() for item in scene.chromosome_items())
