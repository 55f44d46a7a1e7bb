"""The case table: one row per cell (thumbnail and cell, status, count, karyotype); the open cell in bold.

Count is the cell's chromosome count (named and unnamed), with its unsplit clusters beside it;
the tool tip gives the full breakdown.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from karyostudio.gui.case.thumbnails import Thumbnails
from karyostudio.io.case_report import CaseCell, CellStatus

COLUMNS = ("Cell", "Status", "Count", "Karyotype")
_STATUS_COLOURS = {
    CellStatus.NOT_STARTED: QColor(120, 120, 120),
    CellStatus.AUTO: QColor(170, 110, 0),
    CellStatus.REVIEWED: QColor(0, 130, 40),
    CellStatus.REJECTED: QColor(120, 60, 160),
    CellStatus.UNREADABLE: QColor(190, 0, 0),
}

Index = QModelIndex | QPersistentModelIndex


class CaseTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.cells: list[CaseCell] = []
        self._current: Path | None = None
        self._current_row: int | None = None  # cached: fonts are asked for on every paint
        self.thumbnails = Thumbnails(self)
        self.thumbnails.ready.connect(self._thumbnail_ready)

    def _thumbnail_ready(self, path: Path) -> None:
        for row, cell in enumerate(self.cells):
            if cell.image_path == path:
                index = self.index(row, 0)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def set_cells(self, cells: list[CaseCell]) -> None:
        self.beginResetModel()
        self.cells = list(cells)
        self._current_row = self.row_of(self._current)
        self.endResetModel()

    def set_current(self, image_path: Path | None) -> None:
        self._current = image_path
        self._current_row = self.row_of(image_path)
        if self.cells:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.cells) - 1, len(COLUMNS) - 1),
                                  [Qt.ItemDataRole.FontRole])

    def row_of(self, image_path: Path | None) -> int | None:
        if image_path is None:
            return None
        target = resolved_path(image_path)
        return next((row for row, c in enumerate(self.cells) if resolved_path(c.image_path) == target), None)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.cells)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        cell, column = self.cells[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (cell.name, cell.status.value, cell.count_text(), cell.karyotype or "")[column]
        if role == Qt.ItemDataRole.DecorationRole and column == 0:
            return self.thumbnails.get(cell.image_path)
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return QBrush(_STATUS_COLOURS[cell.status])
        if role == Qt.ItemDataRole.FontRole and index.row() == self._current_row:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return cell.error or _tooltip(cell)
        return None


def resolved_path(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except OSError:
        return Path(path).absolute()


def _tooltip(cell: CaseCell) -> str:
    lines = [str(cell.image_path)]
    if cell.count is not None:
        lines.append(f"{cell.count} chromosomes ({cell.named or 0} named, {cell.unnamed or 0} unnamed)"
                     + (f", {cell.clusters} clusters not counted" if cell.clusters else ""))
    if cell.karyotype:
        lines.append(cell.karyotype)
    if cell.status == CellStatus.REJECTED:
        lines.append("rejected: left out of the tally")
    if cell.karyogram:
        lines.append("karyogram exported")
    return "\n".join(lines)
