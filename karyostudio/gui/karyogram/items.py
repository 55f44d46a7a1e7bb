"""Karyogram scene items: one upright chromosome, one class slot (label, ideogram, missing copies).

Items only show what the scene gives them; the scene places them and keeps them in step with
the document. Scene units are image pixels, so chromosome lengths compare truly.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QStyleOptionGraphicsItem, QWidget

from karyostudio.core.instance import Instance
from karyostudio.gui.palette import class_colour
from karyostudio.render.straighten import Strip
from karyostudio.synth.ideogram import STAIN_DARKNESS, load_ideograms

FRAME_PAD = 3.0  # room around a chromosome for its selection frame
EXTRA_MARK = "+"
HOVER_COLOUR = QColor(30, 144, 255)
EXTRA_COLOUR = QColor(200, 0, 0)
LABEL_FONT_PT = 10.0


def strip_pixmap(strip: Strip) -> QPixmap:
    """The chromosome in gray, transparent outside its mask (so neighbours never show)."""
    h, w = strip.shape
    rgba = np.empty((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = strip.pixels[..., None]
    rgba[..., 3] = np.where(strip.mask, 255, 0)
    image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(image.copy())  # copy: the QImage must not outlive the numpy buffer


class ChromosomeItem(QGraphicsPixmapItem):
    """One chromosome in its slot: selectable, shows hover and selection, marks extra copies."""

    def __init__(self, instance: Instance, strip: Strip):
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)  # click anywhere in the box
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.setAcceptHoverEvents(True)
        self.instance = instance
        self.hovered = False
        self.extra = False  # a copy beyond what the slot expects
        self.plain = False  # export: no hover/selection decorations
        self.on_hover = None  # callable(instance_id | None), set by the scene
        self.set_content(instance, strip)

    @property
    def instance_id(self) -> int:
        return self.instance.id

    def set_content(self, instance: Instance, strip: Strip) -> None:
        self.instance = instance
        if strip is not getattr(self, "strip", None):  # a relabel keeps the pixels
            self.prepareGeometryChange()
            self.strip = strip
            self.setPixmap(strip_pixmap(strip))
        score = f", score {instance.score:.2f}" if instance.score is not None else ""
        guessed = "" if strip.p_arm_known else "; p arm guessed"
        self.setToolTip(f"#{instance.id}: {instance.label or 'unlabeled'}{score} ({instance.source}{guessed})\n"
                        "drag to another class to relabel")

    def set_flags(self, *, hovered: bool | None = None, extra: bool | None = None) -> None:
        if hovered is not None and hovered != self.hovered:
            self.hovered = hovered
            self.update()
        if extra is not None and extra != self.extra:
            self.extra = extra
            self.update()

    def boundingRect(self) -> QRectF:
        return super().boundingRect().adjusted(-FRAME_PAD, -FRAME_PAD - 14.0, FRAME_PAD, FRAME_PAD)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(super().boundingRect().adjusted(-FRAME_PAD, -FRAME_PAD, FRAME_PAD, FRAME_PAD))
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        frame = super().boundingRect().adjusted(-FRAME_PAD / 2, -FRAME_PAD / 2, FRAME_PAD / 2, FRAME_PAD / 2)
        if self.hovered and not self.plain:
            painter.fillRect(frame, QColor(HOVER_COLOUR.red(), HOVER_COLOUR.green(), HOVER_COLOUR.blue(), 40))
        painter.drawPixmap(QPointF(0, 0), self.pixmap())
        if self.isSelected() and not self.plain:
            pen = QPen(class_colour(self.instance.label).darker(120), 2.0)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(frame)
        if self.extra:
            painter.setPen(EXTRA_COLOUR)
            font = QFont()
            font.setPointSizeF(LABEL_FONT_PT)
            font.setBold(True)
            painter.setFont(font)
            painter.drawText(QRectF(frame.left(), frame.top() - 14.0, frame.width(), 14.0),
                             Qt.AlignmentFlag.AlignCenter, EXTRA_MARK)

    def hoverEnterEvent(self, event) -> None:
        if self.on_hover is not None:
            self.on_hover(self.instance_id)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:
        if self.on_hover is not None:
            self.on_hover(None)
        super().hoverLeaveEvent(event)


class SlotItem(QGraphicsItem):
    """A class slot: its name under it, its ideogram at its left, dashed outlines for missing copies.

    ``name`` is a class name, or None for the unassigned row (a drop there removes the class).
    """

    def __init__(self, name: str | None):
        super().__init__()
        self.setZValue(-1.0)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.name = name
        self.rect = QRectF()
        self.ideogram_rect = QRectF()
        self.placeholders: list[QRectF] = []
        self.caption = name or "unassigned"
        self.caption_colour = QColor(0, 0, 0)
        self.label_height = 18.0
        self.drop_target = False

    def set_geometry(self, rect: QRectF, ideogram_rect: QRectF, placeholders: list[QRectF], caption: str,
                     abnormal: bool, label_height: float) -> None:
        self.prepareGeometryChange()
        self.rect, self.ideogram_rect, self.placeholders = rect, ideogram_rect, placeholders
        self.caption = caption
        self.caption_colour = EXTRA_COLOUR if abnormal else QColor(0, 0, 0)
        self.label_height = label_height
        missing = f"; {len(placeholders)} copy missing" if len(placeholders) == 1 else \
            f"; {len(placeholders)} copies missing" if placeholders else ""
        self.setToolTip(f"class {self.name}{missing}" if self.name else
                        "unlabelled outlines and clusters (drop a chromosome here to remove its class)")
        self.update()

    def set_drop_target(self, on: bool) -> None:
        if on != self.drop_target:
            self.drop_target = on
            self.update()

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self.drop_target:
            painter.setPen(QPen(HOVER_COLOUR, 1.5))
            painter.setBrush(QColor(HOVER_COLOUR.red(), HOVER_COLOUR.green(), HOVER_COLOUR.blue(), 30))
            painter.drawRoundedRect(self.rect, 4, 4)
        elif self.name is None:
            painter.setPen(QPen(QColor(180, 180, 180), 1.0, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(self.rect, 4, 4)
        font = QFont()
        font.setPointSizeF(LABEL_FONT_PT)
        painter.setFont(font)
        painter.setPen(self.caption_colour)
        caption_rect = QRectF(self.rect.left(), self.rect.bottom() - self.label_height, self.rect.width(),
                              self.label_height)
        if self.name is None:
            caption_rect = QRectF(self.rect.left() + 6, self.rect.top() + 2, self.rect.width() - 12, self.label_height)
            painter.drawText(caption_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.caption)
        else:
            painter.drawLine(QPointF(self.rect.left() + 4, caption_rect.top() + 1),
                             QPointF(self.rect.right() - 4, caption_rect.top() + 1))
            painter.drawText(caption_rect, Qt.AlignmentFlag.AlignCenter, self.caption)
        pen = QPen(QColor(150, 150, 150), 1.0, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for rect in self.placeholders:
            painter.drawRoundedRect(rect, rect.width() / 3, rect.width() / 3)
        if self.name is not None and not self.ideogram_rect.isEmpty():
            paint_ideogram(painter, self.name, self.ideogram_rect)


def paint_ideogram(painter: QPainter, name: str, rect: QRectF) -> None:
    """The G-band ideogram of a class, p arm at the top, bands shaded by their Giemsa darkness."""
    ideogram = load_ideograms()[name]
    length = ideogram.length_bp
    width = rect.width()
    painter.save()
    painter.setPen(Qt.PenStyle.NoPen)
    for start, end, stain in zip(ideogram.starts, ideogram.ends, ideogram.stains):
        top = rect.top() + rect.height() * float(start) / length
        height = max(rect.height() * float(end - start) / length, 0.3)
        if stain == "acen":
            inset, colour = width * 0.3, QColor(170, 60, 60)
        elif stain == "stalk":
            inset, colour = width * 0.35, QColor(200, 200, 200)
        else:
            level = int(round(255 * (1.0 - STAIN_DARKNESS[stain])))
            inset, colour = 0.0, QColor(level, level, level)
        painter.setBrush(QBrush(colour))
        painter.drawRect(QRectF(rect.left() + inset, top, width - 2 * inset, height))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(60, 60, 60), 0.8))
    split = rect.top() + rect.height() * ideogram.centromere_fraction
    painter.drawRoundedRect(QRectF(rect.left(), rect.top(), width, split - rect.top()), width / 3, width / 3)
    painter.drawRoundedRect(QRectF(rect.left(), split, width, rect.bottom() - split), width / 3, width / 3)
    painter.restore()
