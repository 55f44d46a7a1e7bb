"""Export the karyogram page as PNG, SVG or PDF: A4 landscape at print resolution, with its metadata.

The page is the scene's own layout (karyostudio.render.karyogram_layout, the same for the app,
its exports and ``predict``), headed by case, cell, karyotype, counts, date and reviewer, drawn
without hover or selection marks. Ideograms and the unplaced objects (unnamed chromosomes,
clusters) are left out unless asked for. PNG is 3508 x 2480 pixels (300 dpi, recorded in the
file), PDF one A4 landscape page, SVG 297 x 210 mm. The metadata also goes into each format's
own metadata (PNG text chunks, SVG title and description, PDF title and XMP), so archives can
search for it. Files are rendered in memory and written atomically: an existing file is only
replaced by a complete export.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator

from karyostudio.gui.karyogram.scene import KaryogramScene
from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.render.karyogram_layout import UNITS_PER_MM

EXPORT_FORMATS = {".png": "PNG image", ".svg": "SVG drawing", ".pdf": "PDF document"}
PRINT_DPI = 300
MM_PER_INCH = 25.4


class ExportError(ValueError):
    """The karyogram cannot be exported as asked (unknown format, nothing to draw, write failure)."""


@dataclass(frozen=True)
class ExportMetadata:
    case_id: str  # the case (or, without a case, the cell)
    karyotype: str
    date: str  # ISO date
    reviewer: str | None = None
    cell: str | None = None  # the cell within the case
    counts: str = ""  # e.g. "46 chromosomes, 1 cluster (not counted)"

    @classmethod
    def today(cls, case_id: str, karyotype: str, reviewer: str | None = None, *, cell: str | None = None,
              counts: str = "") -> "ExportMetadata":
        return cls(case_id, karyotype, datetime.date.today().isoformat(), reviewer or None, cell or None, counts)

    def lines(self) -> list[str]:
        where = f"Case: {self.case_id}" + (f"    Cell: {self.cell}" if self.cell else "")
        lines = [where, f"Karyotype: {self.karyotype or 'not determined'}" + (
            f"    ({self.counts})" if self.counts else "")]
        lines.append(f"Date: {self.date}" + (f"    Reviewer: {self.reviewer}" if self.reviewer else ""))
        return lines

    def one_line(self) -> str:
        return "Karyogram \u2014 " + "; ".join(self.lines())


@dataclass(frozen=True)
class ExportOptions:
    ideograms: bool = False
    include_unplaced: bool = False


def export_karyogram(scene: KaryogramScene, path: str | Path, metadata: ExportMetadata,
                     options: ExportOptions = ExportOptions()) -> Path:
    """Write the karyogram page to path; the format follows the suffix (.png, .svg, .pdf)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ExportError(f"cannot export a karyogram as {suffix or 'a file without suffix'!r}; "
                          f"use one of {', '.join(EXPORT_FORMATS)}")
    if scene.pending:  # e.g. the karyogram is hidden or was just given a document: catch up first
        scene.update_now()
    if scene.document is None or not scene.chromosome_items():
        raise ExportError("the karyogram is empty: open a metaphase with outlines first")
    render = {".png": _png_bytes, ".svg": _svg_bytes, ".pdf": _pdf_bytes}[suffix]
    with scene.export_page(ideograms=options.ideograms, include_unplaced=options.include_unplaced,
                           header=metadata.lines()) as page:
        data = render(scene, page, metadata)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"could not write {path}: {exc.strerror or exc}") from exc
    return path


def print_size(page: QRectF, dpi: int = PRINT_DPI) -> QSize:
    """Pixels of the page at dpi (A4 landscape at 300 dpi: 3508 x 2480)."""
    per_unit = dpi / MM_PER_INCH / UNITS_PER_MM
    return QSize(int(round(page.width() * per_unit)), int(round(page.height() * per_unit)))


def _draw(painter: QPainter, scene: KaryogramScene, page: QRectF, target: QRectF) -> None:
    painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                           | QPainter.RenderHint.SmoothPixmapTransform)
    painter.fillRect(target, QColor(255, 255, 255))
    scene.render(painter, target, page)


def _buffer() -> tuple[QByteArray, QBuffer]:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    return data, buffer


def _png_bytes(scene: KaryogramScene, page: QRectF, metadata: ExportMetadata) -> bytes:
    size = print_size(page)
    image = QImage(size, QImage.Format.Format_RGB32)
    image.fill(QColor(255, 255, 255))
    dots_per_metre = int(round(PRINT_DPI / MM_PER_INCH * 1000))
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    painter = QPainter(image)
    _draw(painter, scene, page, QRectF(0, 0, size.width(), size.height()))
    painter.end()
    image.setText("Title", f"Karyogram {metadata.case_id}" + (f" {metadata.cell}" if metadata.cell else ""))
    image.setText("Description", metadata.one_line())
    if metadata.reviewer:
        image.setText("Author", metadata.reviewer)
    image.setText("Software", "karyostudio")
    data, buffer = _buffer()
    if not image.save(buffer, "PNG"):
        raise ExportError("could not encode the karyogram as PNG")
    buffer.close()
    return bytes(data.data())


def _svg_bytes(scene: KaryogramScene, page: QRectF, metadata: ExportMetadata) -> bytes:
    size = print_size(page)
    data, buffer = _buffer()
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setResolution(PRINT_DPI)
    generator.setSize(size)  # with the resolution: 297 x 210 mm
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle(f"Karyogram {metadata.case_id}")
    generator.setDescription(metadata.one_line())
    painter = QPainter(generator)
    _draw(painter, scene, page, QRectF(0, 0, size.width(), size.height()))
    painter.end()
    buffer.close()
    return bytes(data.data())


def _pdf_bytes(scene: KaryogramScene, page: QRectF, metadata: ExportMetadata) -> bytes:
    data, buffer = _buffer()
    writer = QPdfWriter(buffer)
    writer.setTitle(metadata.one_line())
    writer.setCreator("karyostudio")
    writer.setAuthor(metadata.reviewer or "")
    writer.setResolution(PRINT_DPI)  # images keep print resolution
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Landscape,
                                     QMarginsF(0, 0, 0, 0), QPageLayout.Unit.Millimeter))
    painter = QPainter(writer)
    area = writer.pageLayout().paintRectPixels(writer.resolution())
    _draw(painter, scene, page, QRectF(0, 0, area.width(), area.height()))
    painter.end()
    buffer.close()
    return bytes(data.data())
