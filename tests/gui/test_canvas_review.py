"""The canvas while reviewing: badges beside (not over) small chromosomes, a selection that keeps the
bands visible, undo/redo repainted at once, cached outlines, every panel listed and remembered."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF
from PySide6.QtGui import QRegion
from PySide6.QtWidgets import QDockWidget, QGraphicsItem

from karyostudio.core.commands import AddInstances, EditVertices
from karyostudio.core.document import Document
from karyostudio.core.instance import Instance
from karyostudio.gui.canvas.instance_item import TAG_ALPHA
from karyostudio.workspace.session import Session


def _bar(x, y, w, h):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], float)


def _striped_cell():
    """A 1600 x 1200 slide with a long striped chromosome and a tiny one (a 21 at this scale)."""
    image = np.full((1200, 1600), 215, np.uint8)
    image[300:500, 400:430] = 80
    image[300:500:20, 400:430] = 20  # dark bands every 20 rows
    image[301:500:20, 400:430] = 20
    image[600:624, 900:910] = 70  # the small one
    instances = [Instance(1, _bar(400, 300, 30, 200), label="1", score=0.9, source="m"),
                 Instance(2, _bar(900, 600, 10, 24), label="21", score=0.9, source="m")]
    return Session(Document.from_instances(instances, image=image, image_size=(1600, 1200)))


class PaintSpy(QObject):
    def __init__(self):
        super().__init__()
        self.region = QRegion()

    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            self.region = self.region.united(event.region())
        return False


def test_badges_sit_beside_small_chromosomes_at_fit_zoom(window, qtbot):
    window.set_session(_striped_cell())
    window.view.fit_to_window()
    qtbot.wait(20)
    view = window.view
    for instance_id in (1, 2):
        item = window.scene.item_for(instance_id)
        outline = view.mapFromScene(item.polygon().boundingRect()).boundingRect()
        tag = view.mapFromScene(item.tag.sceneBoundingRect()).boundingRect()
        assert not tag.intersects(outline.adjusted(1, 1, -1, -1)), f"the badge hides outline {instance_id}"
        assert tag.height() <= 16
    assert TAG_ALPHA < 255  # half transparent besides
    window.act.show_labels.trigger()  # and they can be switched off (L)
    assert not window.scene.item_for(2).tag.isVisible()


def _band_contrast(window, qtbot) -> float:
    window.view.fit_region(QRectF(380, 280, 70, 240))
    qtbot.wait(20)
    shot = window.view.viewport().grab().toImage()
    column = window.view.mapFromScene(QPointF(415, 400)).x()
    values = [shot.pixelColor(column, window.view.mapFromScene(QPointF(415, y)).y()).lightness()
              for y in np.arange(320, 480, 1.0)]
    return float(np.percentile(values, 95) - np.percentile(values, 5))


def test_a_selected_outline_keeps_its_banding_visible(window, qtbot):
    window.set_session(_striped_cell())
    plain = _band_contrast(window, qtbot)
    window.selection.set([1])
    selected = _band_contrast(window, qtbot)
    assert plain > 40 and selected >= 0.8 * plain


def test_undo_and_redo_repaint_the_canvas_and_the_hover_outline_at_once(window, qtbot):
    window.set_session(Session(Document(image=np.full((800, 1000), 200, np.uint8), image_size=(1000, 800))))
    square = _bar(400, 400, 20, 60)
    window.session.history.push(AddInstances([Instance(1, square, label="1")]))
    window.selection.set([1])
    spike = square.copy()
    spike[1] = (700, 150)
    window.session.history.push(EditVertices(1, spike))
    window.selection.set_hovered(1)  # the hover overlay now shows the spike
    qtbot.wait(50)
    spy = PaintSpy()
    window.view.viewport().installEventFilter(spy)
    window.act.undo.trigger()
    qtbot.wait(50)
    tip = window.view.mapFromScene(QPointF(650, 200))
    assert spy.region.contains(tip), "the undone spike was not repainted"
    hover = window.karyogram.hover_outline.path().boundingRect()
    assert hover.right() <= 421 and hover.top() >= 399  # the overlay follows the undo too
    spy.region = QRegion()
    window.act.redo.trigger()
    qtbot.wait(50)
    assert spy.region.contains(tip) and window.karyogram.hover_outline.path().boundingRect().right() >= 699


def test_unselected_outlines_are_cached_selected_ones_live(window):
    window.set_session(_striped_cell())
    window.selection.set([1])
    cached = QGraphicsItem.CacheMode.DeviceCoordinateCache
    assert window.scene.item_for(1).cacheMode() == QGraphicsItem.CacheMode.NoCache
    assert window.scene.item_for(2).cacheMode() == cached
    window.selection.set([2])
    assert window.scene.item_for(1).cacheMode() == cached


def test_view_lists_every_panel_so_a_closed_one_comes_back(window):

    def all_actions(m):
        for action in m.actions():
            yield action
            if action.menu() is not None:
                yield from all_actions(action.menu())

    listed = set(all_actions(window.menus.view))
    docks = window.findChildren(QDockWidget)
    assert {d.objectName() for d in docks} >= {"dock_outlines", "dock_display", "dock_case", "dock_training",
                                               "dock_evaluation"}
    for dock in docks:
        assert dock.toggleViewAction() in listed, dock.objectName()
    outlines = next(d for d in docks if d.objectName() == "dock_outlines")
    outlines.close()
    outlines.toggleViewAction().trigger()
    assert outlines.isVisible()


def test_the_dock_layout_is_remembered(window, qtbot, tmp_path, fake_predictor):
    from karyostudio.gui.main_window import MainWindow
    from karyostudio.models.registry import ModelInfo

    display = window.findChild(QDockWidget, "dock_display")
    display.close()
    window.close()  # a normal close saves the layout
    info = ModelInfo(fake_predictor.name, "fake", "test predictor", None, True)
    again = MainWindow(predictor_loader=lambda name: fake_predictor, model_lister=lambda: [info],
                       recovery_directory=tmp_path / "recovery2")
    qtbot.addWidget(again)
    again.show()
    try:
        assert not again.findChild(QDockWidget, "dock_display").isVisible()
        assert again.findChild(QDockWidget, "dock_outlines").isVisible()
    finally:
        again.discard_and_close()
