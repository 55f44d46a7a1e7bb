"""One chromosome outline on the canvas: polygon in its class colour, label tag, vertex handles.

Outlines and handles keep their on-screen size at every zoom (cosmetic pens, handles drawn in
device pixels). The item only shows an Instance; edits go through commands, and the scene
calls :meth:`InstanceItem.set_instance` when the document changes.

The label tag sits just outside the outline's top-right corner, small and half transparent, so
it never hides the chromosome it names, however small (21, 22, Y at fit zoom). Fills are faint
(selected ones too: the selection shows as a thicker outline and handles), so the banding stays
visible. Unselected outlines and tags are cached as device pixmaps: a repaint of hundreds of
outlines blits them instead of drawing every polygon and text again.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPolygonItem, QStyle, QStyleOptionGraphicsItem, QWidget

from karyostudio.core.instance import Instance
from karyostudio.gui.palette import class_colour

HANDLE_PX = 7.0  # vertex handle size on screen
REVIEWED_MARK = " \u2713"
TAG_FONT_PT = 7.5
TAG_ALPHA = 190
TAG_GAP_PX = 1.0  # between the outline's corner and its tag
FILL_ALPHA = 28  # faint, so the bands show through
SELECTED_FILL_ALPHA = 28
CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache


def to_qpolygon(points: np.ndarray) -> QPolygonF:
    return QPolygonF([QPointF(float(x), float(y)) for x, y in points])


def label_text(instance: Instance) -> str:
    text = instance.label if instance.label is not None else "?"
    return text + REVIEWED_MARK if instance.reviewed else text


class LabelTag(QGraphicsItem):
    """The class name on a filled tag of the class colour, always the same size on screen."""

    def __init__(self, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setCacheMode(CACHE)
        self._font = QFont()
        self._font.setPointSizeF(TAG_FONT_PT)
        self._font.setBold(True)
        self._text = ""
        self._colour = QColor()
        self._rect = QRectF()

    def set_content(self, text: str, colour: QColor) -> None:
        self.prepareGeometryChange()
        self._text, self._colour = text, colour
        size = QFontMetricsF(self._font).size(0, text)
        w, h = size.width() + 4.0, size.height()
        # Anchored at the outline's top-right corner, the tag lies above and right of it.
        self._rect = QRectF(TAG_GAP_PX, -h - TAG_GAP_PX, w, h)
        self.update()

    @property
    def text(self) -> str:
        return self._text

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        fill = QColor(self._colour)
        fill.setAlpha(TAG_ALPHA)
        painter.setBrush(fill)
        painter.drawRoundedRect(self._rect, 3.0, 3.0)
        painter.setFont(self._font)
        painter.setPen(Qt.GlobalColor.black if self._colour.lightness() > 140 else Qt.GlobalColor.white)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self._text)


class InstanceItem(QGraphicsPolygonItem):
    """Shows one Instance; knows its vertices for hit-testing and drag previews."""

    def __init__(self, instance: Instance, handle_margin: float = HANDLE_PX) -> None:
        super().__init__()
        # Extra bounding margin (scene units) so handles drawn in device pixels get repainted;
        # the scene raises it when the view zooms out (see MetaphaseScene.set_view_scale).
        self._margin = handle_margin
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setCacheMode(CACHE)
        self._tag = LabelTag(self)
        self._points = instance.polygon
        self.instance = instance
        self.set_instance(instance)

    @property
    def instance_id(self) -> int:
        return self.instance.id

    @property
    def points(self) -> np.ndarray:
        """The vertices being shown (a drag preview while a vertex is dragged)."""
        return self._points

    @property
    def tag(self) -> LabelTag:
        return self._tag

    def set_instance(self, instance: Instance) -> None:
        self.instance = instance
        colour = class_colour(instance.label)
        pen = QPen(colour, 2.0 if instance.reviewed else 1.5)
        pen.setCosmetic(True)
        if instance.attributes.get("cluster", False):
            pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        fill = QColor(colour)
        fill.setAlpha(FILL_ALPHA)
        self.setBrush(QBrush(fill))
        self._tag.set_content(label_text(instance), colour)
        score = f", score {instance.score:.2f}" if instance.score is not None else ""
        score = score or (", reviewed" if instance.reviewed else "")
        reviewed = ", reviewed" if instance.reviewed and instance.score is not None else ""
        self.setToolTip(f"#{instance.id}: {instance.label or 'unlabeled'}{score}{reviewed} ({instance.source})")
        self.set_points(instance.polygon)

    def set_points(self, points: np.ndarray) -> None:
        self.prepareGeometryChange()
        self._points = np.asarray(points, dtype=np.float64)
        self.setPolygon(to_qpolygon(self._points))
        self._tag.setPos(QPointF(float(self._points[:, 0].max()), float(self._points[:, 1].min())))

    def nearest_vertex(self, scene_pos: QPointF, tolerance: float) -> int | None:
        """Index of the vertex closest to scene_pos if within tolerance (scene units)."""
        d = np.hypot(self._points[:, 0] - scene_pos.x(), self._points[:, 1] - scene_pos.y())
        index = int(np.argmin(d))
        return index if d[index] <= tolerance else None

    def set_selected_look(self, selected: bool) -> None:
        """Selected outlines are drawn above their neighbours and live (their handles move)."""
        self.setZValue(1.0 if selected else 0.0)
        self.setCacheMode(QGraphicsItem.CacheMode.NoCache if selected else CACHE)

    def set_handle_margin(self, margin: float) -> None:
        self.prepareGeometryChange()
        self._margin = margin

    def boundingRect(self) -> QRectF:
        m = self._margin
        return super().boundingRect().adjusted(-m, -m, m, m)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        selected = self.isSelected()
        plain = QStyleOptionGraphicsItem(option)
        plain.state &= ~QStyle.StateFlag.State_Selected  # no dashed Qt selection box
        if selected:
            pen = QPen(self.pen())
            pen.setWidthF(3.0)
            painter.setPen(pen)
            fill = QColor(self.brush().color())
            fill.setAlpha(SELECTED_FILL_ALPHA)
            painter.setBrush(fill)
            painter.drawPolygon(self.polygon())
            self._paint_handles(painter)
        else:
            super().paint(painter, plain, widget)

    def _paint_handles(self, painter: QPainter) -> None:
        transform = painter.worldTransform()
        painter.save()
        painter.resetTransform()
        painter.setPen(QPen(Qt.GlobalColor.black, 1.0))
        painter.setBrush(Qt.GlobalColor.white)
        half = HANDLE_PX / 2.0
        last: QPointF | None = None
        for x, y in self._points:
            p = transform.map(QPointF(float(x), float(y)))
            # Dense outlines (pixel-edge polygons) would show a solid band of handles: skip
            # those that would overlap the previous one; dragging still picks any vertex.
            if last is not None and abs(p.x() - last.x()) + abs(p.y() - last.y()) < 1.5 * HANDLE_PX:
                continue
            painter.drawRect(QRectF(p.x() - half, p.y() - half, HANDLE_PX, HANDLE_PX))
            last = p
        painter.restore()
