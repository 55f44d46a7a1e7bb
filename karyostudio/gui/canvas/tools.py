"""The two basic canvas tools: select (and drag vertices) and draw a polygon.

Both subclass tool_base.Tool, as the editing tools do in their own modules (brush_tool,
split_tool, grabcut_tool; karyostudio.gui.edit_tools creates them and their actions); each is
set with MetaphaseView.set_tool.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsView

from karyostudio.geometry.edit_ops import EditError, delete_vertex, insert_vertex, nearest_edge
from karyostudio.gui.canvas.instance_item import InstanceItem
from karyostudio.gui.canvas.tool_base import Tool, ToolView


class SelectTool(Tool):
    """Click/rubber-band selection (Qt's), plus vertex editing of the selected outlines.

    Drag a vertex to move it; press on an edge and drag to insert a vertex there and move it;
    double-click or Ctrl+click an edge to insert a vertex; Shift+click or Alt+click a vertex
    to delete it (an outline keeps at least three). Each edit is one undo step.
    """

    name = "select"
    drag_mode = QGraphicsView.DragMode.RubberBandDrag

    def __init__(self, view: ToolView, on_edit: Callable[..., None]):
        super().__init__(view)
        self._on_edit = on_edit
        self.message: Callable[[str], None] = lambda text: None  # the window shows these
        # item, vertex index, outline before the edit, outline being dragged, what the edit is
        self._drag: tuple[InstanceItem, int, np.ndarray, np.ndarray, str] | None = None
        self._hover: QPointF | None = None
        self._moved = False

    # --- picking ---------------------------------------------------------------------------
    def _selected_items(self) -> list[InstanceItem]:
        return [i for i in self.view.metaphase_scene.selectedItems() if isinstance(i, InstanceItem)]

    def _vertex_at(self, pos: QPointF) -> tuple[InstanceItem, int] | None:
        for item in self._selected_items():
            index = item.nearest_vertex(pos, self.tolerance())
            if index is not None:
                return item, index
        return None

    def _edge_at(self, pos: QPointF) -> InstanceItem | None:
        for item in self._selected_items():
            _, distance, _ = nearest_edge(item.points, (pos.x(), pos.y()))
            if distance <= self.tolerance():
                return item
        return None

    # --- vertex edits ----------------------------------------------------------------------
    def insert_vertex_at(self, pos: QPointF) -> bool:
        """Insert a vertex on the nearest edge of a selected outline (within picking distance)."""
        item = self._edge_at(pos)
        if item is None:
            self.message("point at an edge of the selected outline to insert a vertex")
            return False
        try:
            polygon, _ = insert_vertex(item.points, (pos.x(), pos.y()))
        except EditError as exc:
            self.message(str(exc))
            return False
        self._on_edit(item.instance_id, polygon, "insert vertex")
        return True

    def delete_vertex_at(self, pos: QPointF) -> bool:
        """Delete the vertex of a selected outline under pos (never below three vertices)."""
        hit = self._vertex_at(pos)
        if hit is None:
            self.message("point at a vertex of the selected outline to delete it")
            return False
        item, index = hit
        try:
            polygon = delete_vertex(item.points, index)
        except EditError as exc:
            self.message(str(exc))
            return False
        self._on_edit(item.instance_id, polygon, "delete vertex")
        return True

    def insert_vertex_at_cursor(self) -> bool:
        return self._hover is not None and self.insert_vertex_at(self._hover)

    def delete_vertex_at_cursor(self) -> bool:
        if self._hover is None:
            self.message("point at a vertex of the selected outline to delete it")
            return False
        return self.delete_vertex_at(self._hover)

    # --- events ----------------------------------------------------------------------------
    def mouse_press(self, event, pos):
        self._hover = pos
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if modifiers & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier):
            return self._vertex_at(pos) is not None and self.delete_vertex_at(pos)
        if modifiers == Qt.KeyboardModifier.ControlModifier:
            return self._vertex_at(pos) is None and self._edge_at(pos) is not None and self.insert_vertex_at(pos)
        if modifiers != Qt.KeyboardModifier.NoModifier:
            return False
        hit = self._vertex_at(pos)
        if hit is not None:
            item, index = hit
            self._drag = (item, index, item.points.copy(), item.points.copy(), "edit outline")
            self._moved = False
            return True
        item = self._edge_at(pos)
        if item is not None:  # dragging from an edge inserts a vertex there (once it moves)
            try:
                working, index = insert_vertex(item.points, (pos.x(), pos.y()))
            except EditError:
                return False
            self._drag = (item, index, item.points.copy(), working, "insert vertex")
            self._moved = False
            return True
        return False

    def mouse_move(self, event, pos):
        self._hover = pos
        if self._drag is None:
            return False
        item, index, _, working, _ = self._drag
        self._moved = True
        points = working.copy()
        points[index] = (pos.x(), pos.y())
        item.set_points(points)
        return True

    def mouse_release(self, event, pos):
        if self._drag is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        item, _, original, _, text = self._drag
        self._drag = None
        moved = item.points
        item.set_points(original)  # the command's document event shows the result
        # A press on an edge without a move inserts nothing (it may be half of a double-click).
        if moved.shape != original.shape or not np.array_equal(moved, original):
            if self._moved:
                self._on_edit(item.instance_id, moved, text)
        return True

    def mouse_double_click(self, event, pos):
        if event.button() != Qt.MouseButton.LeftButton or self._vertex_at(pos) is not None:
            return False
        self.deactivate()  # drops the edge press that began the double-click
        return self._edge_at(pos) is not None and self.insert_vertex_at(pos)

    def key_press(self, event):
        if event.key() != Qt.Key.Key_Escape:
            return False
        if self._drag is not None:  # Esc while dragging puts the vertex back
            item, _, original, _, _ = self._drag
            self._drag = None
            item.set_points(original)
        else:
            self.view.metaphase_scene.selection.clear()
        return True

    def deactivate(self) -> None:
        if self._drag is not None:
            item, _, original, _, _ = self._drag
            self._drag = None
            item.set_points(original)


class DrawPolygonTool(Tool):
    """Click vertices; Enter, a double-click or a click on the first vertex closes; Esc cancels.

    Backspace removes the last vertex. Esc with nothing drawn calls on_exit (back to selecting).
    """

    name = "draw polygon"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, view: ToolView, on_finish: Callable[[np.ndarray], None],
                 on_exit: Callable[[], None]):
        super().__init__(view)
        self._on_finish = on_finish
        self._on_exit = on_exit
        self._points: list[tuple[float, float]] = []
        self._cursor: tuple[float, float] | None = None
        self._preview = QGraphicsPathItem()
        pen = QPen(Qt.GlobalColor.yellow, 1.5)
        pen.setCosmetic(True)
        self._preview.setPen(pen)
        self._preview.setZValue(1000)

    @property
    def points(self) -> list[tuple[float, float]]:
        return list(self._points)

    def activate(self) -> None:
        self.view.metaphase_scene.addItem(self._preview)

    def deactivate(self) -> None:
        self._reset()
        if self._preview.scene() is not None:
            self._preview.scene().removeItem(self._preview)

    def _clamped(self, pos: QPointF) -> tuple[float, float]:
        rect = self.view.metaphase_scene.image_rect()
        return (min(max(pos.x(), rect.left()), rect.right()), min(max(pos.y(), rect.top()), rect.bottom()))

    def mouse_press(self, event, pos):
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        point = self._clamped(pos)
        if self._points and self._near(point, self._points[-1]):
            return True  # second press of a double-click: no duplicate vertex
        if len(self._points) >= 3 and self._near(point, self._points[0]):
            self.finish()
            return True
        self._points.append(point)
        self._update_preview()
        return True

    def mouse_move(self, event, pos):
        self._cursor = self._clamped(pos)
        if self._points:
            self._update_preview()
        return False  # let the view keep tracking the cursor

    def mouse_release(self, event, pos):
        return event.button() == Qt.MouseButton.LeftButton

    def mouse_double_click(self, event, pos):
        if event.button() == Qt.MouseButton.LeftButton:
            self.finish()
            return True
        return False

    def key_press(self, event):
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._points:
            self.finish()
            return True
        if key == Qt.Key.Key_Escape:
            if self._points:
                self._reset()
            else:
                self._on_exit()
            return True
        if key == Qt.Key.Key_Backspace and self._points:
            self._points.pop()
            self._update_preview()
            return True
        return False

    def finish(self) -> None:
        """Close the polygon (if it has at least 3 vertices) and hand it on."""
        points = np.asarray(self._points, dtype=np.float64)
        self._reset()
        if len(points) >= 3 and abs(_signed_area(points)) > 0.0:
            self._on_finish(points)

    def _near(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        return float(np.hypot(a[0] - b[0], a[1] - b[1])) <= self.tolerance()

    def _reset(self) -> None:
        self._points.clear()
        self._preview.setPath(QPainterPath())

    def _update_preview(self) -> None:
        path = QPainterPath()
        if self._points:
            path.moveTo(*self._points[0])
            for point in self._points[1:]:
                path.lineTo(*point)
            if self._cursor is not None:
                path.lineTo(*self._cursor)
        self._preview.setPath(path)


def _signed_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
