"""Help > Keyboard shortcuts: every action with its keys, plus the class keys."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, \
    QVBoxLayout, QWidget

from karyostudio.gui.label_keys import TWO_KEY_TIMEOUT_MS

CLASS_KEYS = (
    ("1 … 9", "name the selected outlines 1 … 9"),
    ("0", "name them 10"),
    ("1 or 2, then a digit", f"name them 10 … 22 (second digit within {TWO_KEY_TIMEOUT_MS / 1000:g} s)"),
    ("X, Y", "name them X or Y"),
    ("Esc", "clear the selection; while drawing: drop the polygon, then leave the tool"),
    ("Space + drag, middle drag", "pan"),
    ("Mouse wheel", "zoom about the cursor"),
)


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    rows = []
    for action in actions:
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
        if keys:
            rows.append((keys, action.text().replace("&", "").rstrip("…")))
    return rows + list(CLASS_KEYS)


class ShortcutsDialog(QDialog):
    def __init__(self, actions: list[QAction], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(actions)
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (keys, text) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(keys))
            table.setItem(r, 1, QTableWidgetItem(text))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(buttons)
        self.resize(560, 640)
