"""The "Case" dock: the folder's cells in a table (with thumbnails) and the case tally below it.

The panel can be made narrow: table columns keep the width they are given and elide, and the
title and tally lines wrap instead of widening the dock.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QSizePolicy, QTableView, QVBoxLayout, QWidget

from karyostudio.gui.case.model import CaseTableModel
from karyostudio.gui.case.thumbnails import THUMBNAIL_PX
from karyostudio.io.case_report import CaseCell, LabTargets, case_tally

MIN_WIDTH = 160


def _wrapping_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(MIN_WIDTH - 20)
    return label


class CasePanel(QWidget):
    cell_activated = Signal(int)  # row double-clicked, or Enter pressed on it

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = CaseTableModel(self)
        self.title = _wrapping_label("No case open: File \u203a Open Folder\u2026 or drop a folder here")
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMBNAIL_PX + 4)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(24)
        self.table.setMinimumWidth(MIN_WIDTH - 10)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        # activated: a double-click, or Enter (a double-click also emits doubleClicked; one is enough)
        self.table.activated.connect(lambda index: self.cell_activated.emit(index.row()))
        self.tally = _wrapping_label()
        self.tally.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.tally)
        self._fitted = False

    def show_case(self, name: str | None, cells: list[CaseCell], targets: LabTargets = LabTargets()) -> None:
        self.model.set_cells(cells)
        self.title.setText(f"Case {name}" if name else "No case open")
        self.tally.setText(case_tally(cells, targets).text() if name else "")
        self.tally.setToolTip(self.tally.text())
        if cells and not self._fitted:  # fit the columns once; afterwards they keep the user's widths
            self._fitted = True
            for column, width in enumerate((THUMBNAIL_PX + 70, 76, 48)):
                self.table.setColumnWidth(column, width)

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), MIN_WIDTH), hint.height())

    def select_row(self, row: int | None) -> None:
        if row is None:
            self.table.clearSelection()
        else:
            self.table.selectRow(row)
