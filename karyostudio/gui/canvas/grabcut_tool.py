"""GrabCut tool: a rough box, lasso or click becomes a chromosome outline, refined by strokes.

  drag              box around a chromosome         Ctrl+drag   rough polygon (lasso)
  click             the chromosome under the cursor (seeded by a local threshold)
  then: drag        mark object          right drag or Shift+drag   mark background
  Enter accepts (one undoable "add"); a class key (1-9, 0, X, Y, two digits) accepts and names
  the outline in the same step; Esc drops the preview, a second Esc leaves the tool.

GrabCut runs synchronously in the GUI thread: it works on a crop downscaled to at most
GrabCutSettings.max_side pixels, which keeps a run in the tens of milliseconds (see
benchmarks/bench_grabcut.py), below what a worker thread's hand-off and the stale-result
handling it needs would be worth. 16-bit images go through the current display levels, so
GrabCut sees what the user sees.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath

from karyostudio.geometry.grabcut import GrabCutError, GrabCutRegion, GrabCutSettings
from karyostudio.gui.canvas.tool_base import Tool, ToolView
from karyostudio.gui.canvas.tool_support import ContextMenuBlocker, hide, polyline_path, preview_item, show_in, \
    stroke_path

if TYPE_CHECKING:
    from karyostudio.core.document import Document

STROKE_PX = 4.0  # radius of object/background strokes on screen
HINT = "Enter accepts (or type its class), drag marks object, right/Shift+drag background, Esc cancels"


class GrabCutTool(Tool):
    name = "grabcut"
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, view: ToolView, on_accept: Callable[[np.ndarray, str | None], object],
                 on_exit: Callable[[], None], message: Callable[[str], None],
                 settings: GrabCutSettings = GrabCutSettings()):
        super().__init__(view)
        self._on_accept = on_accept
        self._on_exit = on_exit
        self._message = message
        self.settings = settings
        self.region: GrabCutRegion | None = None
        self.outline: np.ndarray | None = None  # the current preview polygon
        self.last_run_s = 0.0
        self._document: Document | None = None
        self._gesture: str | None = None  # "box", "lasso", "object", "background"
        self._start = QPointF()
        self._points: list[tuple[float, float]] = []
        self._outline_item = preview_item(Qt.GlobalColor.yellow, 2.5, QColor(255, 255, 0, 60), dashed=True)
        self._gesture_item = preview_item(Qt.GlobalColor.cyan, 1.0, dashed=True)
        self._marks_item = preview_item(Qt.GlobalColor.green, 1.0, QColor(0, 255, 0, 90))
        self._background_item = preview_item(Qt.GlobalColor.red, 1.0, QColor(255, 0, 0, 90))
        self._marks = QPainterPath()
        self._background_marks = QPainterPath()
        self._blocker = ContextMenuBlocker()

    # --- activation ------------------------------------------------------------------------
    def activate(self) -> None:
        show_in(self.view.metaphase_scene, self._outline_item, self._gesture_item, self._marks_item,
                self._background_item)
        self.view.viewport().installEventFilter(self._blocker)
        self._message("GrabCut: drag a box around a chromosome, Ctrl+drag a rough outline, or click it")

    def deactivate(self) -> None:
        self.cancel()
        self.view.viewport().removeEventFilter(self._blocker)
        hide(self._outline_item, self._gesture_item, self._marks_item, self._background_item)

    # --- accept / cancel -------------------------------------------------------------------
    def accept(self, label: str | None = None) -> bool:
        """Add the previewed outline (named label) to the document as one undoable step."""
        outline = self.outline
        stale = self._document is not self.view.metaphase_scene.document
        self.cancel()
        if outline is None:
            return False
        if stale:
            self._message("the image changed: outline dropped")
            return False
        self._on_accept(outline, label)
        return True

    def accept_with_label(self, label: str | None) -> bool:
        """Accept with a name when there is a preview (class keys); False when there is none."""
        return self.outline is not None and self.accept(label)

    def cancel(self) -> None:
        self.region = None
        self.outline = None
        self._document = None
        self._gesture = None
        self._points = []
        self._marks = QPainterPath()
        self._background_marks = QPainterPath()
        for item in (self._outline_item, self._gesture_item, self._marks_item, self._background_item):
            item.setPath(QPainterPath())

    # --- events ----------------------------------------------------------------------------
    def mouse_press(self, event, pos):
        button, modifiers = event.button(), event.modifiers()
        if button not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return False
        if self.region is not None and self._document is not self.view.metaphase_scene.document:
            self.cancel()  # another image was opened: its preview belongs to the old one
        self._start = pos
        self._points = [(pos.x(), pos.y())]
        if self.region is None:
            if button == Qt.MouseButton.LeftButton:
                lasso = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
                self._gesture = "lasso" if lasso else "box"
            return True
        background = button == Qt.MouseButton.RightButton or bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        self._gesture = "background" if background else "object"
        self._update_gesture()
        return True

    def mouse_move(self, event, pos):
        if self._gesture is None:
            return False
        self._points.append((pos.x(), pos.y()))
        self._update_gesture()
        return True

    def mouse_release(self, event, pos):
        gesture, self._gesture = self._gesture, None
        if gesture is None:
            return event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton)
        points = self._points + [(pos.x(), pos.y())]
        self._gesture_item.setPath(QPainterPath())
        dragged = max(abs(pos.x() - self._start.x()), abs(pos.y() - self._start.y())) > self.tolerance()
        if gesture == "box" and dragged:
            self._start_region(lambda image, levels: GrabCutRegion.from_box(
                image, _box(self._start, pos), levels=levels, settings=self.settings))
        elif gesture == "lasso" and dragged and len(points) >= 3:
            self._start_region(lambda image, levels: GrabCutRegion.from_polygon(
                image, np.asarray(points), levels=levels, settings=self.settings))
        elif gesture in ("box", "lasso"):
            self._start_region(lambda image, levels: GrabCutRegion.from_click(
                image, (pos.x(), pos.y()), levels=levels, settings=self.settings))
        else:
            self._add_stroke(points, foreground=gesture == "object")
        return True

    def key_press(self, event):
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.outline is not None:
            self.accept()
            return True
        if key == Qt.Key.Key_Escape:
            if self.region is not None or self._gesture is not None:
                self.cancel()
                self._message("GrabCut cancelled")
            else:
                self._on_exit()
            return True
        return False

    # --- GrabCut ---------------------------------------------------------------------------
    def _image(self) -> tuple[np.ndarray | None, tuple[int, int] | None]:
        scene = self.view.metaphase_scene
        document = scene.document
        image = document.image if document is not None else None
        settings = scene.image_item.settings
        levels = (settings.low, settings.high) if image is not None and settings is not None \
            and image.dtype != np.uint8 else None
        return image, levels

    def _start_region(self, build: Callable[[np.ndarray, tuple[int, int] | None], GrabCutRegion]) -> None:
        image, levels = self._image()
        if image is None:
            self._message("open an image first")
            return
        started = time.perf_counter()
        try:
            region = build(image, levels)
            outline = region.polygon()
        except GrabCutError as exc:
            self._message(str(exc))
            return
        self.region, self._document = region, self.view.metaphase_scene.document
        self._show(outline, started)

    def _add_stroke(self, points: list[tuple[float, float]], foreground: bool) -> None:
        assert self.region is not None
        radius = max(STROKE_PX / max(self.view.zoom, 1e-6), 1.0)
        path = stroke_path(points, radius)
        if foreground:
            self._marks = self._marks.united(path)
        else:
            self._background_marks = self._background_marks.united(path)
        self._marks_item.setPath(self._marks)
        self._background_item.setPath(self._background_marks)
        started = time.perf_counter()
        try:
            self.region.add_stroke(points, foreground=foreground, radius=radius)
            outline = self.region.polygon()
        except GrabCutError as exc:
            self._message(str(exc))
            return
        self._show(outline, started)

    def _show(self, outline: np.ndarray, started: float) -> None:
        self.last_run_s = time.perf_counter() - started
        self.outline = outline
        self._outline_item.setPath(polyline_path(outline, closed=True))
        self._message(f"GrabCut {self.last_run_s * 1000:.0f} ms: {HINT}")

    def _update_gesture(self) -> None:
        if self._gesture == "box":
            path = QPainterPath()
            path.addRect(QRectF(self._start, QPointF(*self._points[-1])).normalized())
        elif self._gesture == "lasso":
            path = polyline_path(self._points, closed=True)
        else:
            path = stroke_path(self._points, max(STROKE_PX / max(self.view.zoom, 1e-6), 1.0))
        self._gesture_item.setPath(path)


def _box(a: QPointF, b: QPointF) -> tuple[float, float, float, float]:
    return min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y())
