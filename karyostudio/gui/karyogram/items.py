"""Karyogram scene items: the page with its header, one chromosome, one class slot.

Items only show what the scene gives them; the scene places them and keeps them in step with
the document. Scene units are the page's (tenths of a millimetre, see
karyostudio.render.karyogram_layout); a chromosome item draws its cut-out in image pixels and
is scaled by the page's one scale.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QStyleOptionGraphicsItem, QWidget

from karyostudio.core.instance import Instance
from karyostudio.gui.palette import class_colour
from karyostudio.render.karyogram_layout import CAPTION_FONT, HEADER_FONT, Box, SlotGeometry
from karyostudio.render.straighten import Strip
from karyostudio.synth.ideogram import STAIN_DARKNESS, load_ideograms

FRAME_PAD = 3.0  # image pixels around a chromosome for its selection frame
EXTRA_MARK = "+"
HOVER_COLOUR = QColor(30, 144, 255)
EXTRA_COLOUR = QColor(200, 0, 0)
_IDENTITY = np.arange(256, dtype=np.uint8)


def page_font(height: float, bold: bool = False) -> QFont:
    """A font whose text is about ``height`` scene units tall."""
    font = QFont()
    font.setPixelSize(max(1, int(round(height))))
    font.setBold(bold)
    return font


def strip_pixmap(strip: Strip, lut: np.ndarray | None = None) -> QPixmap:
    """The chromosome in gray (contrast-stretched by lut), transparent outside it, soft-edged.

    The colour under the transparent rim is the chromosome's own (Strip.fill), so a scaled
    pixmap never shows a light halo.
    """
    h, w = strip.shape
    rgba = np.empty((h, w, 4), dtype=np.uint8)
    rgba[..., :3] = (lut if lut is not None else _IDENTITY)[strip.fill][..., None]
    rgba[..., 3] = strip.coverage
    image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
    return QPixmap.fromImage(image.copy())  # copy: the QImage must not outlive the numpy buffer


class ChromosomeItem(QGraphicsPixmapItem):
    """One chromosome: selectable, shows hover and selection, marks extra copies."""

    def __init__(self, instance: Instance, strip: Strip, lut: np.ndarray | None = None):
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)  # click anywhere in the box
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.setAcceptHoverEvents(True)
        self.instance = instance
        self.lut = lut
        self.hovered = False
        self.extra = False  # a copy beyond what the slot expects
        self.plain = False  # export: no hover/selection decorations
        self.on_hover = None  # callable(instance_id | None), set by the scene
        self.strip: Strip | None = None
        self.set_content(instance, strip)

    @property
    def instance_id(self) -> int:
        return self.instance.id

    def set_content(self, instance: Instance, strip: Strip) -> None:
        self.instance = instance
        if strip is not self.strip:  # a relabel keeps the pixels
            self.prepareGeometryChange()
            self.strip = strip
            self.setPixmap(strip_pixmap(strip, self.lut))
        score = f", score {instance.score:.2f}" if instance.score is not None else \
            (", reviewed" if instance.reviewed else "")
        guessed = "" if strip.p_arm_known else "; p arm guessed"
        kind = "cluster" if instance.attributes.get("cluster") else (instance.label or "unnamed")
        self.setToolTip(f"#{instance.id}: {kind}{score} ({instance.source}{guessed})\n"
                        "drag to another class to relabel")

    def set_lut(self, lut: np.ndarray) -> None:
        self.lut = lut
        if self.strip is not None:
            self.setPixmap(strip_pixmap(self.strip, lut))

    def place(self, pos: QPointF, scale: float, *, extra: bool) -> None:
        self.setScale(scale)
        self.setPos(pos)
        self.set_flags(extra=extra)
        self.setVisible(True)

    def set_flags(self, *, hovered: bool | None = None, extra: bool | None = None) -> None:
        if hovered is not None and hovered != self.hovered:
            self.hovered = hovered
            self.update()
        if extra is not None and extra != self.extra:
            self.prepareGeometryChange()
            self.extra = extra
            self.update()

    def _mark_height(self) -> float:
        return CAPTION_FONT / max(self.scale(), 1e-6)

    def boundingRect(self) -> QRectF:
        top = self._mark_height() * 1.2 if self.extra else 0.0
        return super().boundingRect().adjusted(-FRAME_PAD, -FRAME_PAD - top, FRAME_PAD, FRAME_PAD)

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
            mark = self._mark_height()
            painter.setPen(EXTRA_COLOUR)
            painter.setFont(page_font(mark, bold=True))
            painter.drawText(QRectF(frame.left() - mark, frame.top() - mark * 1.2, frame.width() + 2 * mark, mark),
                             Qt.AlignmentFlag.AlignCenter, EXTRA_MARK)

    def hoverEnterEvent(self, event) -> None:
        if self.on_hover is not None:
            self.on_hover(self.instance_id)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:
        if self.on_hover is not None:
            self.on_hover(None)
        super().hoverLeaveEvent(event)


class PageItem(QGraphicsItem):
    """The white page and its header lines (cell, karyotype, counts; the metadata in exports)."""

    def __init__(self):
        super().__init__()
        self.setZValue(-10.0)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.rect = QRectF(0.0, 0.0, 2970.0, 2100.0)
        self.header = QRectF()
        self.lines: list[str] = []

    def set_page(self, rect: QRectF, header: Box) -> None:
        if rect != self.rect or QRectF(*header) != self.header:
            self.prepareGeometryChange()
            self.rect, self.header = rect, QRectF(*header)
            self.update()

    def set_lines(self, lines: list[str]) -> None:
        if lines != self.lines:
            self.lines = list(lines)
            self.update()

    def boundingRect(self) -> QRectF:
        return self.rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.fillRect(self.rect, QColor(255, 255, 255))
        if not self.lines or self.header.isEmpty():
            return
        painter.setPen(QColor(0, 0, 0))
        spacing = HEADER_FONT * 1.35
        for k, line in enumerate(self.lines):
            font = page_font(HEADER_FONT, bold=k == 0)
            painter.setFont(font)
            line = QFontMetricsF(font).elidedText(line, Qt.TextElideMode.ElideRight, self.header.width())
            painter.drawText(QRectF(self.header.left(), self.header.top() + k * spacing, self.header.width(), spacing),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line)


class SlotItem(QGraphicsItem):
    """A class slot: its line and number under it, its ideogram, dashed outlines for missing copies."""

    def __init__(self, name: str):
        super().__init__()
        self.setZValue(-1.0)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.name = name
        self.rect = QRectF()
        self.line_y = 0.0
        self.ideogram_rect = QRectF()
        self.placeholders: list[QRectF] = []
        self.caption = name
        self.caption_colour = QColor(0, 0, 0)
        self.drop_target = False

    def set_geometry(self, slot: SlotGeometry) -> None:
        self.prepareGeometryChange()
        self.rect = QRectF(*slot.rect)
        self.line_y = slot.line_y
        self.ideogram_rect = QRectF(*slot.ideogram) if slot.ideogram else QRectF()
        self.placeholders = [QRectF(*p) for p in slot.placeholders]
        self.caption = slot.caption
        self.caption_colour = EXTRA_COLOUR if slot.abnormal else QColor(0, 0, 0)
        missing = len(self.placeholders)
        note = f"; {missing} {'copy' if missing == 1 else 'copies'} missing" if missing else ""
        self.setToolTip(f"class {self.name}{note} (drop a chromosome here to name it {self.name})")
        self.update()

    def set_drop_target(self, on: bool) -> None:
        if on != self.drop_target:
            self.drop_target = on
            self.update()

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self.drop_target:
            painter.setPen(QPen(HOVER_COLOUR, 3.0))
            painter.setBrush(QColor(HOVER_COLOUR.red(), HOVER_COLOUR.green(), HOVER_COLOUR.blue(), 30))
            painter.drawRoundedRect(self.rect, 12, 12)
        inset = self.rect.width() * 0.12
        painter.setPen(QPen(QColor(0, 0, 0), 3.0))
        painter.drawLine(QPointF(self.rect.left() + inset, self.line_y), QPointF(self.rect.right() - inset, self.line_y))
        painter.setFont(page_font(CAPTION_FONT))
        painter.setPen(self.caption_colour)
        painter.drawText(QRectF(self.rect.left(), self.line_y + 4.0, self.rect.width(), CAPTION_FONT * 1.3),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, self.caption)
        painter.setPen(QPen(QColor(150, 150, 150), 2.0, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for rect in self.placeholders:
            painter.drawRoundedRect(rect, rect.width() / 3, rect.width() / 3)
        if not self.ideogram_rect.isEmpty():
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
    painter.setPen(QPen(QColor(60, 60, 60), 1.5))
    split = rect.top() + rect.height() * ideogram.centromere_fraction
    painter.drawRoundedRect(QRectF(rect.left(), rect.top(), width, split - rect.top()), width / 3, width / 3)
    painter.drawRoundedRect(QRectF(rect.left(), split, width, rect.bottom() - split), width / 3, width / 3)
    painter.restore()
