"""The "Case" dock: the folder's cells in a table and the case tally below it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from karyostudio.gui.case.model import CaseTableModel
from karyostudio.io.case_report import CaseCell, case_tally


class CasePanel(QWidget):
    cell_activated = Signal(int)  # row double-clicked, or Enter pressed on it

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = CaseTableModel(self)
        self.title = QLabel("No case open: File \u203a Open Folder\u2026 or drop a folder here")
        self.title.setWordWrap(True)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        # activated: a double-click, or Enter (a double-click also emits doubleClicked; one is enough)
        self.table.activated.connect(lambda index: self.cell_activated.emit(index.row()))
        self.tally = QLabel()
        self.tally.setWordWrap(True)
        self.tally.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.tally)

    def show_case(self, name: str | None, cells: list[CaseCell]) -> None:
        self.model.set_cells(cells)
        self.title.setText(f"Case {name}" if name else "No case open")
        self.tally.setText(case_tally(cells).text() if name else "")

    def select_row(self, row: int | None) -> None:
        if row is None:
            self.table.clearSelection()
        else:
            self.table.selectRow(row)
