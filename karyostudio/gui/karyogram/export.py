"""Export the karyogram as PNG, SVG or PDF, headed by case/cell id, karyotype, date and reviewer.

The page is a header (the metadata lines) above the karyogram scene, drawn without hover or
selection marks. The same metadata goes into each format's own metadata (PNG text chunks, SVG
title and description, PDF title and XMP), so archives can search for it. Files are rendered
in memory and written atomically: an existing file is only replaced by a complete export.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsScene

from karyostudio.io.atomic import atomic_write_bytes

EXPORT_FORMATS = {".png": "PNG image", ".svg": "SVG drawing", ".pdf": "PDF document"}
PNG_SCALE = 2.0  # export pixels per scene unit (image pixel): crisp text, true chromosome detail
HEADER_FONT_PT = 11.0
HEADER_PAD = 10.0


class ExportError(ValueError):
    """The karyogram cannot be exported as asked (unknown format, nothing to draw, write failure)."""


@dataclass(frozen=True)
class ExportMetadata:
    case_id: str
    karyotype: str
    date: str  # ISO date
    reviewer: str | None = None

    @classmethod
    def today(cls, case_id: str, karyotype: str, reviewer: str | None = None) -> "ExportMetadata":
        return cls(case_id, karyotype, datetime.date.today().isoformat(), reviewer or None)

    def lines(self) -> list[str]:
        lines = [f"Case/cell: {self.case_id}", f"Karyotype: {self.karyotype or 'not determined'}",
                 f"Date: {self.date}"]
        if self.reviewer:
            lines.append(f"Reviewer: {self.reviewer}")
        return lines

    def one_line(self) -> str:
        return "Karyogram \u2014 " + "; ".join(self.lines())


def export_karyogram(scene: QGraphicsScene, path: str | Path, metadata: ExportMetadata) -> Path:
    """Write the karyogram to path; the format follows the suffix (.png, .svg, .pdf)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ExportError(f"cannot export a karyogram as {suffix or 'a file without suffix'!r}; "
                          f"use one of {', '.join(EXPORT_FORMATS)}")
    source = scene.sceneRect()
    if source.isEmpty():
        raise ExportError("the karyogram is empty: open a metaphase with outlines first")
    render = {".png": _png_bytes, ".svg": _svg_bytes, ".pdf": _pdf_bytes}[suffix]
    data = render(scene, source, metadata)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"could not write {path}: {exc.strerror or exc}") from exc
    return path


def _header_font() -> QFont:
    font = QFont()
    font.setPointSizeF(HEADER_FONT_PT)
    return font


def _header_height(metadata: ExportMetadata) -> float:
    return HEADER_PAD * 2 + QFontMetricsF(_header_font()).lineSpacing() * len(metadata.lines())


def _page_size(source: QRectF, metadata: ExportMetadata) -> QSizeF:
    return QSizeF(source.width(), source.height() + _header_height(metadata))


def _draw(painter: QPainter, scene: QGraphicsScene, source: QRectF, metadata: ExportMetadata) -> None:
    """Draw header and karyogram in page units (one unit = one scene unit)."""
    size = _page_size(source, metadata)
    painter.fillRect(QRectF(0, 0, size.width(), size.height()), QColor(255, 255, 255))
    painter.setFont(_header_font())
    painter.setPen(QColor(0, 0, 0))
    spacing = QFontMetricsF(_header_font()).lineSpacing()
    for k, line in enumerate(metadata.lines()):
        painter.drawText(QRectF(HEADER_PAD, HEADER_PAD + k * spacing, size.width() - 2 * HEADER_PAD, spacing),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line)
    header = _header_height(metadata)
    plain = getattr(scene, "plain", None)
    if plain is not None:
        with plain():
            scene.render(painter, QRectF(0, header, source.width(), source.height()), source)
    else:
        scene.render(painter, QRectF(0, header, source.width(), source.height()), source)


def _buffer() -> tuple[QByteArray, QBuffer]:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    return data, buffer


def _png_bytes(scene: QGraphicsScene, source: QRectF, metadata: ExportMetadata) -> bytes:
    size = _page_size(source, metadata)
    image = QImage(QSize(int(size.width() * PNG_SCALE + 0.5), int(size.height() * PNG_SCALE + 0.5)),
                   QImage.Format.Format_RGB32)
    image.fill(QColor(255, 255, 255))
    painter = QPainter(image)
    painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                           | QPainter.RenderHint.SmoothPixmapTransform)
    painter.scale(PNG_SCALE, PNG_SCALE)
    _draw(painter, scene, source, metadata)
    painter.end()
    image.setText("Title", f"Karyogram {metadata.case_id}")
    image.setText("Description", metadata.one_line())
    if metadata.reviewer:
        image.setText("Author", metadata.reviewer)
    image.setText("Software", "karyostudio")
    data, buffer = _buffer()
    if not image.save(buffer, "PNG"):
        raise ExportError("could not encode the karyogram as PNG")
    buffer.close()
    return bytes(data.data())


def _svg_bytes(scene: QGraphicsScene, source: QRectF, metadata: ExportMetadata) -> bytes:
    size = _page_size(source, metadata)
    data, buffer = _buffer()
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QSize(int(size.width() + 0.5), int(size.height() + 0.5)))
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle(f"Karyogram {metadata.case_id}")
    generator.setDescription(metadata.one_line())
    painter = QPainter(generator)
    _draw(painter, scene, source, metadata)
    painter.end()
    buffer.close()
    return bytes(data.data())


def _pdf_bytes(scene: QGraphicsScene, source: QRectF, metadata: ExportMetadata) -> bytes:
    size = _page_size(source, metadata)
    data, buffer = _buffer()
    writer = QPdfWriter(buffer)
    writer.setTitle(metadata.one_line())
    writer.setCreator("karyostudio")
    writer.setAuthor(metadata.reviewer or "")
    writer.setResolution(72)  # one device unit = one point
    # The page is A4 in the karyogram's orientation; the drawing is scaled to fit its margins.
    landscape = size.width() > size.height()
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Landscape if landscape else
                                     QPageLayout.Orientation.Portrait, QMarginsF(24, 24, 24, 24),
                                     QPageLayout.Unit.Point))
    painter = QPainter(writer)
    area = writer.pageLayout().paintRectPoints()
    scale = min(area.width() / size.width(), area.height() / size.height())
    painter.scale(scale, scale)
    _draw(painter, scene, source, metadata)
    painter.end()
    buffer.close()
    return bytes(data.data())
