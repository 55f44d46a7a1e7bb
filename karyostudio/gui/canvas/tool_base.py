"""The canvas tool interface: what a mouse click means is decided by the active Tool.

A tool receives the view's mouse and key events first and returns True for events it used;
the rest get Qt's default handling (selection by click or rubber band). Tools never edit the
document: they hand finished geometry to callbacks that push commands. A tool sees its view
only as a ToolView, so the view (which routes events to tools) and the tools do not import
each other.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QGraphicsView, QWidget

from karyostudio.gui.canvas.instance_item import HANDLE_PX
from karyostudio.gui.canvas.scene import MetaphaseScene


class ToolView(Protocol):
    """What a tool uses of the view it works in (karyostudio.gui.canvas.view.MetaphaseView)."""

    @property
    def zoom(self) -> float: ...

    @property
    def metaphase_scene(self) -> MetaphaseScene: ...

    def viewport(self) -> QWidget: ...


class Tool:
    name = "tool"
    cursor = Qt.CursorShape.ArrowCursor
    drag_mode = QGraphicsView.DragMode.NoDrag

    def __init__(self, view: ToolView):
        self.view = view

    def activate(self) -> None: ...

    def deactivate(self) -> None: ...

    def mouse_press(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def mouse_move(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def mouse_release(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def mouse_double_click(self, event: QMouseEvent, pos: QPointF) -> bool:
        return False

    def key_press(self, event: QKeyEvent) -> bool:
        return False

    def tolerance(self) -> float:
        """Scene distance that is HANDLE_PX on screen (for picking vertices)."""
        return HANDLE_PX / max(self.view.zoom, 1e-6)
