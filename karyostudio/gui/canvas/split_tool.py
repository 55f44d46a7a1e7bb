"""Split tool: drag a line across an outline to cut it in two (or more) pieces.

The cut applies to the selected outline, or, with none selected, to the one outline the line
cuts through. The pieces replace it in one undoable command: the largest keeps the id and the
name, the others are unnamed (an outline that needs cutting usually held two chromosomes, so
its name fits one of them at most), and all are left unreviewed.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainterPath

from karyostudio.geometry.edit_ops import EditError, split_by_line
from karyostudio.gui.canvas.instance_item import InstanceItem
from karyostudio.gui.canvas.tool_base import Tool, ToolView
from karyostudio.gui.canvas.tool_support import hide, polyline_path, preview_item, show_in


class SplitTool(Tool):
    name = "split"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, view: ToolView, on_result: Callable[[int, list, str], None],
                 on_exit: Callable[[], None], message: Callable[[str], None]):
        super().__init__(view)
        self._on_result = on_result
        self._on_exit = on_exit
        self._message = message
        self._points: list[tuple[float, float]] | None = None
        self._preview = preview_item(Qt.GlobalColor.magenta, 2.0)

    def activate(self) -> None:
        show_in(self.view.metaphase_scene, self._preview)
        self._message("split: drag a line across an outline to cut it; Esc leaves the tool")

    def deactivate(self) -> None:
        self._points = None
        hide(self._preview)

    def mouse_press(self, event, pos):
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        self._points = [(pos.x(), pos.y())]
        return True

    def mouse_move(self, event, pos):
        if self._points is None:
            return False
        self._points.append((pos.x(), pos.y()))
        self._preview.setPath(polyline_path(self._points))
        return True

    def mouse_release(self, event, pos):
        if self._points is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        points = self._points + [(pos.x(), pos.y())]
        self._points = None
        self._preview.setPath(QPainterPath())
        self.split_along(points)
        return True

    def key_press(self, event):
        if event.key() != Qt.Key.Key_Escape:
            return False
        if self._points is not None:
            self._points = None
            self._preview.setPath(QPainterPath())
        else:
            self._on_exit()
        return True

    def split_along(self, points: list[tuple[float, float]]) -> bool:
        """Cut the selected outline (or the one the line crosses) along the line."""
        scene = self.view.metaphase_scene
        extend = self.tolerance()
        selected = [i for i in scene.selectedItems() if isinstance(i, InstanceItem)]
        line_box = polyline_path(points).boundingRect().adjusted(-extend, -extend, extend, extend)
        candidates = selected if len(selected) == 1 else [
            i for i in scene.instance_items() if i.polygon().boundingRect().intersects(line_box)]
        results = {}
        last_error = "draw the line across an outline, from one side to the other"
        for item in candidates:
            try:
                results[item.instance_id] = split_by_line(item.instance.polygon, points, extend=extend)
            except EditError as exc:
                last_error = str(exc)
        if not results:
            self._message(last_error)
            return False
        if len(results) > 1:
            self._message("the line cuts several outlines: select the one to split first")
            return False
        (instance_id, pieces), = results.items()
        self._on_result(instance_id, pieces, "split outline")
        self._message(f"split into {len(pieces)} outlines (the smaller ones are unnamed)")
        return True
