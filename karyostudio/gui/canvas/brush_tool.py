"""Brush tool: paint onto the selected outline (left drag) or erase from it (right or Shift+drag).

The stroke is a round brush of ``radius`` image pixels ([ and ] change it); on release the
outline is grown by the stroke's area (union) or cut by it (difference) with shapely, and
the result replaces the outline as one undoable command. Erasing that cuts the outline
apart creates one outline per piece (the largest keeps the id and name, crumbs under
edit_ops.MIN_PIECE_AREA are dropped); erasing all of it deletes the outline.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath

from karyostudio.geometry.edit_ops import EditError, brush_add, brush_erase, stroke_shape
from karyostudio.gui.canvas.tool_base import Tool, ToolView
from karyostudio.gui.canvas.tool_support import ContextMenuBlocker, hide, instance_at, preview_item, show_in, \
    single_selected, stroke_path

DEFAULT_RADIUS = 6.0
MIN_RADIUS, MAX_RADIUS = 1.0, 200.0
RADIUS_STEP = 1.25

# instance id, outline pieces (largest first), undo text
BrushResult = Callable[[int, list, str], None]


class BrushTool(Tool):
    name = "brush"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, view: ToolView, on_result: BrushResult, message: Callable[[str], None]):
        super().__init__(view)
        self._on_result = on_result
        self._message = message
        self.radius = DEFAULT_RADIUS
        self._points: list[tuple[float, float]] = []
        self._erase = False
        self._target: int | None = None
        self._ring = preview_item(Qt.GlobalColor.white, 1.0)
        self._stroke = preview_item(Qt.GlobalColor.green, 1.0, QColor(0, 255, 0, 70))
        self._blocker = ContextMenuBlocker()
        self._last: QPointF | None = None

    @property
    def painting(self) -> bool:
        return self._target is not None

    # --- size ------------------------------------------------------------------------------
    def set_radius(self, radius: float) -> None:
        self.radius = float(min(max(radius, MIN_RADIUS), MAX_RADIUS))
        self._message(f"brush radius {self.radius:.1f} px")
        self._update_ring()

    def grow(self) -> None:
        self.set_radius(self.radius * RADIUS_STEP)

    def shrink(self) -> None:
        self.set_radius(self.radius / RADIUS_STEP)

    # --- activation ------------------------------------------------------------------------
    def activate(self) -> None:
        show_in(self.view.metaphase_scene, self._ring, self._stroke)
        self.view.viewport().installEventFilter(self._blocker)
        self._message("brush: drag to paint onto the selected outline; right or Shift+drag erases; [ ] size")

    def deactivate(self) -> None:
        self._cancel()
        self.view.viewport().removeEventFilter(self._blocker)
        hide(self._ring, self._stroke)

    # --- events ----------------------------------------------------------------------------
    def mouse_press(self, event, pos):
        button, shift = event.button(), bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        scene = self.view.metaphase_scene
        item = single_selected(scene) or instance_at(scene, pos)
        if item is None:
            self._message("select an outline first (or start the stroke inside one)")
            return True
        scene.selection.set([item.instance_id])
        self._target = item.instance_id
        self._erase = button == Qt.MouseButton.RightButton or shift
        self._points = [(pos.x(), pos.y())]
        colour = QColor(255, 60, 60) if self._erase else QColor(0, 220, 0)
        self._stroke.setPen(preview_item(colour, 1.0).pen())
        self._stroke.setBrush(QColor(colour.red(), colour.green(), colour.blue(), 70))
        self._update_stroke()
        return True

    def mouse_move(self, event, pos):
        self._last = pos
        self._update_ring()
        if self._target is None:
            return False
        self._points.append((pos.x(), pos.y()))
        self._update_stroke()
        return True

    def mouse_release(self, event, pos):
        if self._target is None:
            return event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton)
        target, points, erase = self._target, list(self._points), self._erase
        self._cancel()
        self._apply(target, points, erase)
        return True

    def key_press(self, event):
        key = event.key()
        if key == Qt.Key.Key_BracketRight:
            self.grow()
            return True
        if key == Qt.Key.Key_BracketLeft:
            self.shrink()
            return True
        if key == Qt.Key.Key_Escape:
            if self._target is not None:
                self._cancel()
            else:
                self.view.metaphase_scene.selection.clear()
            return True
        return False

    # --- internals -------------------------------------------------------------------------
    def _apply(self, target: int, points: list[tuple[float, float]], erase: bool) -> None:
        document = self.view.metaphase_scene.document
        if document is None or target not in document:
            return
        polygon = document.get(target).polygon
        try:
            stroke = stroke_shape(points, self.radius)
            if erase:
                pieces = brush_erase(polygon, stroke)
                text = "brush: erase" if pieces else "brush: erase outline"
            else:
                pieces = [brush_add(polygon, stroke)]
                text = "brush: paint"
        except EditError as exc:
            self._message(str(exc))
            return
        if len(pieces) > 1:
            self._message(f"the eraser cut the outline into {len(pieces)} pieces")
        self._on_result(target, pieces, text)

    def _cancel(self) -> None:
        self._target = None
        self._points = []
        self._stroke.setPath(QPainterPath())

    def _update_stroke(self) -> None:
        self._stroke.setPath(stroke_path(self._points, self.radius) if self._points else QPainterPath())

    def _update_ring(self) -> None:
        path = QPainterPath()
        if self._last is not None:
            path.addEllipse(self._last, self.radius, self.radius)
        self._ring.setPath(path)

