"""Small pieces shared by the editing tools: preview items, paths, picking, right-drag support."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsScene

from karyostudio.gui.canvas.instance_item import InstanceItem

PREVIEW_Z = 1000.0


def preview_item(colour: QColor | Qt.GlobalColor, width: float = 1.5, fill: QColor | None = None,
                 dashed: bool = False) -> QGraphicsPathItem:
    """A path item drawn above the outlines with a pen of constant on-screen width."""
    item = QGraphicsPathItem()
    pen = QPen(colour, width)
    pen.setCosmetic(True)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    item.setPen(pen)
    item.setBrush(QBrush(fill) if fill is not None else QBrush(Qt.BrushStyle.NoBrush))
    item.setZValue(PREVIEW_Z)
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
    return item


def show_in(scene: QGraphicsScene, *items: QGraphicsPathItem) -> None:
    for item in items:
        if item.scene() is not scene:
            if item.scene() is not None:
                item.scene().removeItem(item)
            scene.addItem(item)


def hide(*items: QGraphicsPathItem) -> None:
    for item in items:
        item.setPath(QPainterPath())
        if item.scene() is not None:
            item.scene().removeItem(item)


def polyline_path(points: Sequence[tuple[float, float]] | np.ndarray, closed: bool = False) -> QPainterPath:
    path = QPainterPath()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts):
        path.moveTo(float(pts[0, 0]), float(pts[0, 1]))
        for x, y in pts[1:]:
            path.lineTo(float(x), float(y))
        if closed:
            path.closeSubpath()
    return path


def stroke_path(points: Sequence[tuple[float, float]], radius: float) -> QPainterPath:
    """The area a round brush of this radius covers along the points (for previews)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 1:
        path = QPainterPath()
        path.addEllipse(QPointF(float(pts[0, 0]), float(pts[0, 1])), radius, radius)
        return path
    stroker = QPainterPathStroker()
    stroker.setWidth(2.0 * radius)
    stroker.setCapStyle(Qt.PenCapStyle.RoundCap)
    stroker.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return stroker.createStroke(polyline_path(pts)).simplified()


def instance_at(scene: QGraphicsScene, pos: QPointF) -> InstanceItem | None:
    """The topmost outline containing pos."""
    for item in scene.items(pos):
        if isinstance(item, InstanceItem) and item.polygon().containsPoint(pos, Qt.FillRule.OddEvenFill):
            return item
    return None


def single_selected(scene: QGraphicsScene) -> InstanceItem | None:
    selected = [i for i in scene.selectedItems() if isinstance(i, InstanceItem)]
    return selected[0] if len(selected) == 1 else None


class ContextMenuBlocker(QObject):
    """Swallows context-menu events on a viewport, so that a tool can use right-button drags."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        return event.type() == QEvent.Type.ContextMenu
