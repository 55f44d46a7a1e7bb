"""A karyogram view: shows one region of the scene (the page, or the unplaced strip), refits it
whenever the view or the layout changes size, zooms with the wheel, relabels by drag and drop.

Press on a chromosome and drag it onto another class slot (or the unplaced strip) to change its
class; when the pressed chromosome is part of a multi-selection, the whole selection moves. A
drag may end in a peer view of the same scene (from the strip onto the page, say): the drop
lands where the cursor is, in whichever view it is over. The view only reports the wish
(``relabel_requested``); the controller turns it into one undoable command, and the scene
re-places everything when the document changes.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QMouseEvent, QPainter, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QGraphicsView

from karyostudio.gui.karyogram.items import ChromosomeItem
from karyostudio.gui.karyogram.scene import KaryogramScene

MIN_SCALE, MAX_SCALE = 0.05, 16.0
WHEEL_STEP = 1.0 / 480.0


class KaryogramView(QGraphicsView):
    relabel_requested = Signal(list, object)  # instance ids, class name or None
    context_menu_requested = Signal(object, QPoint)  # instance id or None, global position

    def __init__(self, scene: KaryogramScene, region: Callable[[], QRectF] | None = None, parent=None):
        super().__init__(scene, parent)
        self.region = region or (lambda: scene.page_rect)  # what the view shows and fits
        self.peers: list[KaryogramView] = []  # other views of the scene a drag may end in
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setMouseTracking(True)
        self.auto_fit = True  # keep the whole karyogram in view until the user zooms
        self._pressed: ChromosomeItem | None = None
        self._press_at = QPoint()
        self._dragging: list[ChromosomeItem] = []
        self._drag_origin = QPointF()
        self._start_positions: dict[int, QPointF] = {}
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scene.page_changed.connect(self._region_changed)

    @property
    def karyogram_scene(self) -> KaryogramScene:
        scene = self.scene()
        assert isinstance(scene, KaryogramScene)
        return scene

    # --- zoom ------------------------------------------------------------------------------
    def fit(self) -> None:
        self.auto_fit = True
        self._refit()

    def _region_changed(self) -> None:
        region = self.region()
        if region != self.sceneRect():
            self.setSceneRect(region)
        self._refit()

    def _refit(self) -> None:
        region = self.region()
        if self.auto_fit and not region.isEmpty():
            self.fitInView(region, Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._refit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta:
            factor = 2.0 ** (delta * WHEEL_STEP)
            target = min(max(self.transform().m11() * factor, MIN_SCALE), MAX_SCALE)
            self.auto_fit = False
            self.scale(target / self.transform().m11(), target / self.transform().m11())
        event.accept()

    # --- drag to relabel -------------------------------------------------------------------
    def _chromosome_at(self, pos: QPoint) -> ChromosomeItem | None:
        for item in self.items(pos):
            if isinstance(item, ChromosomeItem):
                return item
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._pressed = None
        if event.button() == Qt.MouseButton.LeftButton:
            self._pressed = self._chromosome_at(event.position().toPoint())
            self._press_at = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if self._pressed is not None and not self._dragging and \
                (pos - self._press_at).manhattanLength() >= QApplication.startDragDistance():
            self._start_drag()
        if self._dragging:
            scene_pos = self.scene_pos_at(pos)
            delta = scene_pos - self._drag_origin
            for item in self._dragging:
                item.setPos(self._start_positions[item.instance_id] + delta)
            self.karyogram_scene.highlight_drop_target(self.karyogram_scene.drop_target_at(scene_pos))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def scene_pos_at(self, pos: QPoint) -> QPointF:
        """The scene point under pos (viewport pixels), in whichever peer view the cursor is over."""
        global_pos = self.viewport().mapToGlobal(pos)
        for view in [self, *self.peers]:
            local = view.viewport().mapFromGlobal(global_pos)
            if view.isVisible() and view.viewport().rect().contains(local):
                return view.mapToScene(local)
        return self.mapToScene(pos)

    def _start_drag(self) -> None:
        scene = self.karyogram_scene
        pressed = self._pressed
        ids = scene.selection.ids if pressed.instance_id in scene.selection.ids else {pressed.instance_id}
        self._dragging = [item for item in scene.chromosome_items() if item.instance_id in ids]
        self._drag_origin = self.mapToScene(self._press_at)
        self._start_positions = {item.instance_id: item.pos() for item in self._dragging}
        for item in self._dragging:
            item.setZValue(10.0)
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self._dragging:
            self._pressed = None
            super().mouseReleaseEvent(event)
            return
        scene = self.karyogram_scene
        target = scene.drop_target_at(self.scene_pos_at(event.position().toPoint()))
        dragged, self._dragging, self._pressed = self._dragging, [], None
        for item in dragged:
            item.setZValue(0.0)
        scene.clear_drop_highlight()
        self.viewport().unsetCursor()
        scene.restore_positions()
        if scene.is_drop_target(target):
            ids = sorted(item.instance_id for item in dragged if item.instance.label != target)
            if ids:
                self.relabel_requested.emit(ids, target)
        event.accept()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        item = self._chromosome_at(event.pos())
        instance_id = item.instance_id if item is not None else None
        selection = self.karyogram_scene.selection
        if instance_id is not None and instance_id not in selection.ids:
            selection.set([instance_id])
        self.context_menu_requested.emit(instance_id, event.globalPos())
        event.accept()
