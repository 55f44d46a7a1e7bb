"""The metaphase view: zoom about the cursor, pan, fit, and mouse input routed to the active tool.

Wheel zooms smoothly about the point under the cursor (trackpads send small steps); the
middle button, or the left button while Space is held, pans. Everything else goes to the
active tool first (see karyostudio.gui.canvas.tool_base); what it leaves goes to Qt's default
handling (click to select, rubber-band selection).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QGraphicsView

from karyostudio.gui.canvas.instance_item import InstanceItem
from karyostudio.gui.canvas.scene import MetaphaseScene
from karyostudio.gui.canvas.tool_base import Tool

MIN_SCALE, MAX_SCALE = 0.02, 64.0
WHEEL_STEP = 1.0 / 480.0  # one wheel notch (120) zooms by 2 ** (120 / 480) ~ 1.19


class MetaphaseView(QGraphicsView):
    scale_changed = Signal(float)
    cursor_moved = Signal(QPointF)  # scene (image) position under the mouse
    context_menu_requested = Signal(object, QPoint)  # instance id or None, global position

    def __init__(self, scene: MetaphaseScene, parent=None):
        super().__init__(scene, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom_by anchors itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._tool: Tool | None = None
        self._space_held = False
        self._pan_from: QPoint | None = None

    @property
    def metaphase_scene(self) -> MetaphaseScene:
        scene = self.scene()
        assert isinstance(scene, MetaphaseScene)
        return scene

    # --- tools -----------------------------------------------------------------------------
    @property
    def tool(self) -> Tool | None:
        return self._tool

    def set_tool(self, tool: Tool) -> None:
        if self._tool is not None:
            self._tool.deactivate()
        self._tool = tool
        self.setDragMode(tool.drag_mode)
        self.viewport().setCursor(tool.cursor)
        tool.activate()

    # --- zoom ------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom keeping the scene point under anchor (viewport pixels; default: the centre) in place."""
        target = min(max(self.zoom * factor, MIN_SCALE), MAX_SCALE)
        if target == self.zoom:
            return
        if anchor is None:
            anchor = self.viewport().rect().center()
        fixed = self.mapToScene(anchor)
        step = target / self.zoom
        self.scale(step, step)
        # Scroll so that the fixed scene point is back under the anchor (where the scene is
        # larger than the viewport; a smaller scene stays centred).
        moved = self.mapFromScene(fixed) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self._scale_updated()

    def fit_to_window(self) -> None:
        self.fit_region(self.metaphase_scene.image_rect())

    def fit_region(self, rect: QRectF) -> None:
        """Show the scene rectangle rect as large as the viewport allows."""
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._scale_updated()

    def actual_size(self) -> None:
        self.resetTransform()
        self._scale_updated()

    def centre_on_instance(self, instance_id: int) -> None:
        item = self.metaphase_scene.item_for(instance_id)
        if item is not None:
            self.centerOn(item.polygon().boundingRect().center())

    def _scale_updated(self) -> None:
        self.metaphase_scene.set_view_scale(self.zoom)
        self.scale_changed.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta:
            self.zoom_by(2.0 ** (delta * WHEEL_STEP), anchor=event.position().toPoint())
        event.accept()

    # --- pan -------------------------------------------------------------------------------
    def _start_pan(self, event: QMouseEvent) -> None:
        self._pan_from = event.position().toPoint()
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def _pan(self, event: QMouseEvent) -> None:
        position = event.position().toPoint()
        delta = position - self._pan_from
        self._pan_from = position
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        event.accept()

    def _end_pan(self, event: QMouseEvent) -> None:
        self._pan_from = None
        self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_held else self._tool_cursor())
        event.accept()

    def _tool_cursor(self):
        return self._tool.cursor if self._tool is not None else Qt.CursorShape.ArrowCursor

    # --- input routing ---------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space_held):
            self._start_pan(event)
            return
        if self._tool is not None and self._tool.mouse_press(event, self.mapToScene(event.position().toPoint())):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        scene_pos = self.mapToScene(event.position().toPoint())
        self.cursor_moved.emit(scene_pos)
        if self._pan_from is not None:
            self._pan(event)
            return
        if self._tool is not None and self._tool.mouse_move(event, scene_pos):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._end_pan(event)
            return
        if self._tool is not None and self._tool.mouse_release(event, self.mapToScene(event.position().toPoint())):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._tool is not None and self._tool.mouse_double_click(
                event, self.mapToScene(event.position().toPoint())):
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if self._tool is not None and self._tool.key_press(event):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._pan_from is None:
                self.viewport().setCursor(self._tool_cursor())
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self._space_held = False  # the key release goes elsewhere
        super().focusOutEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        item = self.itemAt(event.pos())
        while item is not None and not isinstance(item, InstanceItem):
            item = item.parentItem()
        instance_id = item.instance_id if item is not None else None
        if instance_id is not None and instance_id not in self.metaphase_scene.selection.ids:
            self.metaphase_scene.selection.set([instance_id])
        self.context_menu_requested.emit(instance_id, event.globalPos())
        event.accept()
