"""The start-up dialog that offers to restore work left by a crash."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QListWidget, QVBoxLayout, QWidget

from karyostudio.workspace.recovery import RecoveryEntry


class RecoveryAction(Enum):
    RESTORE = "restore"  # open the chosen entry
    DISCARD = "discard"  # delete every listed entry
    LATER = "later"  # keep the files, ask again next start


@dataclass(frozen=True)
class RecoveryDecision:
    action: RecoveryAction
    entry: RecoveryEntry | None = None


class RecoveryDialog(QDialog):
    def __init__(self, entries: list[RecoveryEntry], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Recover unsaved work")
        self._entries = entries
        self.decision = RecoveryDecision(RecoveryAction.LATER)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("karyostudio did not close normally. Unsaved work was kept:"))
        self._list = QListWidget()
        self._list.addItems([entry.describe() for entry in entries])
        self._list.setCurrentRow(0)
        self._list.itemDoubleClicked.connect(lambda _item: self._finish(RecoveryAction.RESTORE))
        layout.addWidget(self._list)
        buttons = QDialogButtonBox()
        restore = buttons.addButton("Restore selected", QDialogButtonBox.ButtonRole.AcceptRole)
        discard = buttons.addButton("Discard all", QDialogButtonBox.ButtonRole.DestructiveRole)
        later = buttons.addButton("Not now", QDialogButtonBox.ButtonRole.RejectRole)
        restore.clicked.connect(lambda: self._finish(RecoveryAction.RESTORE))
        discard.clicked.connect(lambda: self._finish(RecoveryAction.DISCARD))
        later.clicked.connect(lambda: self._finish(RecoveryAction.LATER))
        layout.addWidget(buttons)

    def _finish(self, action: RecoveryAction) -> None:
        entry = self._entries[max(self._list.currentRow(), 0)] if action == RecoveryAction.RESTORE else None
        self.decision = RecoveryDecision(action, entry)
        self.accept()


def choose_recovery(parent: QWidget | None, entries: list[RecoveryEntry]) -> RecoveryDecision:
    dialog = RecoveryDialog(entries, parent)
    dialog.exec()
    return dialog.decision
