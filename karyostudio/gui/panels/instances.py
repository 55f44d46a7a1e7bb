"""The instance list: one row per outline (class, score, area, reviewed, source).

InstanceTableModel rows are the document's ids in ascending order (so rows do not depend on
the document's internal order, which undo restores only after its change event). It keeps
each row's values, computed when the instance enters or changes, and applies each change
event row by row. Sorting by a column happens in a proxy model that sorts when asked (a
header click), not after every edit: rows do not jump away while a person reviews them, and
an edit costs one row, not a re-sort of hundreds. The selection follows the shared Selection.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, \
    QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QSizePolicy, QTableView, QVBoxLayout, \
    QWidget

from karyostudio.core.classes import karyogram_order
from karyostudio.core.document import Document, DocumentChanged
from karyostudio.core.instance import Instance
from karyostudio.gui.palette import class_colour
from karyostudio.gui.selection import Selection
from karyostudio.core.cell_count import count_cell, is_chromosome

COLUMNS = ("#", "Class", "Score", "Area", "\u2713", "Source")
COLUMN_TIPS = ("instance id", "chromosome class", "model confidence", "area in pixels", "reviewed by a person",
               "where the outline came from (a model, or manual)")
_RESET_ABOVE = 32  # structural changes bigger than this reset the model instead of row by row
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2

Index = QModelIndex | QPersistentModelIndex


class InstanceTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._document: Document | None = None
        self._ids: list[int] = []
        self._rows: dict[int, _RowValues] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def set_document(self, document: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._document = document
        self._reset()
        if document is not None:
            self._unsubscribe = document.subscribe(self._on_change)

    def _reset(self) -> None:
        self.beginResetModel()
        instances = list(self._document) if self._document is not None else []
        self._rows = {inst.id: _row_values(inst) for inst in instances}
        self._ids = sorted(self._rows)
        self.endResetModel()

    def id_at(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, instance_id: int) -> int | None:
        row = bisect.bisect_left(self._ids, instance_id)
        return row if row < len(self._ids) and self._ids[row] == instance_id else None

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return COLUMN_TIPS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        instance_id = self._ids[index.row()]
        row = self._rows[instance_id]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.display[column]
        if role == SORT_ROLE:
            return row.sort_keys[column]
        if role == ID_ROLE:
            return instance_id
        if role == Qt.ItemDataRole.DecorationRole and column == 1:
            return class_colour(row.label)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 2, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _on_change(self, event: DocumentChanged) -> None:
        added, removed = set(event.added), set(event.removed)
        gone, new, edited = removed - added, added - removed, removed & added
        if len(gone) + len(new) > _RESET_ABOVE:
            self._reset()
            return
        for instance_id in sorted(gone, reverse=True):
            row = self.row_of(instance_id)
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._ids[row]
            del self._rows[instance_id]
            self.endRemoveRows()
        for instance_id in sorted(new):
            row = bisect.bisect_left(self._ids, instance_id)
            self.beginInsertRows(QModelIndex(), row, row)
            self._ids.insert(row, instance_id)
            self._rows[instance_id] = _row_values(self._document.get(instance_id))
            self.endInsertRows()
        for instance_id in edited:
            self._rows[instance_id] = _row_values(self._document.get(instance_id))
            row = self.row_of(instance_id)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))


def score_text(inst: Instance) -> str:
    """The model's confidence, or "reviewed" once a person has named the outline (its score is gone)."""
    if inst.score is not None:
        return f"{inst.score:.2f}"
    return "reviewed" if inst.reviewed else ""


@dataclass(frozen=True)
class _RowValues:
    label: str | None
    display: tuple[str, ...]
    sort_keys: tuple


def _row_values(inst: Instance) -> _RowValues:
    if inst.label is not None:
        class_text = inst.label if is_chromosome(inst) else f"{inst.label} (cluster)"
    else:
        class_text = "unlabeled" if is_chromosome(inst) else "cluster"
    area = inst.area
    display = (str(inst.id), class_text, score_text(inst),
               f"{area:.0f}", "\u2713" if inst.reviewed else "", inst.source)
    label_key = karyogram_order(inst.label) if inst.label is not None else 99
    sort_keys = (inst.id, label_key, inst.score if inst.score is not None else -1.0, area,
                 int(inst.reviewed), inst.source)
    return _RowValues(inst.label, display, sort_keys)


class InstancePanel(QWidget):
    """The table plus a one-line summary (count, reviewed, karyotype)."""

    activated = Signal(int)  # an instance id was double-clicked / Enter-ed

    def __init__(self, selection: Selection, parent: QWidget | None = None):
        super().__init__(parent)
        self.selection = selection
        self.model = InstanceTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setDynamicSortFilter(False)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        # Column widths are fitted when a document is shown, not kept fitted: ResizeToContents
        # would read every row again after each edit.
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setResizeContentsPrecision(64)  # fit widths to a sample of rows
        self.summary = QLabel()
        # A long karyotype must not widen the dock: the label takes the width it is given
        # and shows the whole text as its tool tip.
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addWidget(self.summary)
        self._syncing = False
        self._unsubscribe: Callable[[], None] | None = None
        self.table.selectionModel().selectionChanged.connect(self._table_selection_changed)
        self.model.modelReset.connect(self.table.resizeColumnsToContents)  # e.g. after a model run
        self.table.activated.connect(lambda index: self.activated.emit(int(index.data(ID_ROLE))))
        selection.changed.connect(self._apply_selection)

    def set_document(self, document: Document | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._syncing = True
        try:
            self.model.set_document(document)
        finally:
            self._syncing = False
        if document is not None:
            self._unsubscribe = document.subscribe(lambda _event: self._refresh(document))
        self._refresh(document)
        self._apply_selection()

    def _refresh(self, document: Document | None) -> None:
        if document is None:
            self.summary.setText("")
            return
        instances = document.instances
        reviewed = sum(inst.reviewed for inst in instances)
        counted = count_cell(instances)
        parts = (counted.parts() or ["no outlines"]) + [f"{reviewed} reviewed"]
        if counted.karyotype:
            parts.append(counted.karyotype)
        self.summary.setText(" \u00b7 ".join(parts))
        self.summary.setToolTip(self.summary.text())
        self._apply_selection()  # rows inserted or reset by this change lose their selection

    def _table_selection_changed(self) -> None:
        if self._syncing:
            return
        rows = self.table.selectionModel().selectedRows()
        self.selection.set(int(index.data(ID_ROLE)) for index in rows)

    def _apply_selection(self) -> None:
        wanted = QItemSelection()
        first = None
        for instance_id in self.selection.sorted_ids():
            row = self.model.row_of(instance_id)
            if row is None:
                continue
            left = self.proxy.mapFromSource(self.model.index(row, 0))
            right = self.proxy.mapFromSource(self.model.index(row, len(COLUMNS) - 1))
            wanted.select(left, right)
            if first is None:
                first = left
        self._syncing = True
        try:
            self.table.selectionModel().select(wanted, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        finally:
            self._syncing = False
        if first is not None:
            self.table.scrollTo(first)
