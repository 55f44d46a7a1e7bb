"""Review decisions on a whole cell: reject an unanalysable cell, and the case's lab targets.

Rejecting a cell (Edit > Reject cell, unanalysable) stores ``cellStatus: rejected`` in its
labelme file as one undoable step and saves the cell at once when it belongs to the open case,
so the case table and tally leave it out straight away; doing it again takes the mark back.
The lab targets (count N cells, analyse M, make K karyograms; 20, 5 and 2 by default) are
remembered in the settings and shown against the case's progress in the tally and the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget

from karyostudio.gui.actions import _action, menu
from karyostudio.gui.karyogram.karyotype_edit import SetSessionValue
from karyostudio.gui.settings import app_settings
from karyostudio.io.case_report import CELL_STATUS_KEY, REJECTED, LabTargets

if TYPE_CHECKING:
    from karyostudio.gui.case.controller import CaseController

_TARGET_KEYS = {"count": "case/target_count", "analyse": "case/target_analyse", "karyograms": "case/target_karyograms"}


def lab_targets() -> LabTargets:
    settings, default = app_settings(), LabTargets()
    values = {}
    for field, key in _TARGET_KEYS.items():
        try:
            values[field] = max(0, int(settings.value(key, getattr(default, field))))
        except (TypeError, ValueError):
            values[field] = getattr(default, field)
    return LabTargets(**values)


def set_lab_targets(targets: LabTargets) -> None:
    settings = app_settings()
    for field, key in _TARGET_KEYS.items():
        settings.setValue(key, int(getattr(targets, field)))


class TargetsDialog(QDialog):
    def __init__(self, targets: LabTargets, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Case targets")
        form = QFormLayout(self)
        self.boxes: dict[str, QSpinBox] = {}
        for field, text in (("count", "Cells to count:"), ("analyse", "Cells to analyse:"),
                            ("karyograms", "Karyograms:")):
            box = QSpinBox()
            box.setRange(0, 500)
            box.setValue(getattr(targets, field))
            self.boxes[field] = box
            form.addRow(text, box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def targets(self) -> LabTargets:
        return LabTargets(**{field: box.value() for field, box in self.boxes.items()})


def is_rejected(extra: dict) -> bool:
    return extra.get(CELL_STATUS_KEY) == REJECTED


class CaseReview(QObject):
    """The reject action and the targets dialog; the case controller refreshes the tally."""

    def __init__(self, case: "CaseController"):
        super().__init__(case)
        self.case = case
        window = case.window
        self.reject_action = _action(window, "Re&ject cell (unanalysable)", "Ctrl+J", checkable=True,
                                     tip="Mark the open cell unanalysable: it stays in the case but leaves the tally")
        self.targets_action = _action(window, "Case &targets\u2026",
                                      tip="Cells to count, cells to analyse and karyograms to make for a case")
        window.addAction(self.reject_action)
        edit = menu(window, "edit")
        edit.addSeparator()
        edit.addAction(self.reject_action)
        menu(window, "analysis").addAction(self.targets_action)
        self.reject_action.triggered.connect(lambda checked: self.set_rejected(checked))
        self.targets_action.triggered.connect(self.targets_dialog)

    def sync(self) -> None:
        """Show the open cell's state on the action (after opening a cell, undo, redo)."""
        self.reject_action.setChecked(is_rejected(self.case.window.session.extra))

    def set_rejected(self, rejected: bool) -> bool:
        """Reject the open cell (or take the mark back): one undo step, saved at once in a case."""
        window = self.case.window
        session = window.session
        if session.image_path is None:
            window.status.message("open a cell first")
            self.sync()
            return False
        if is_rejected(session.extra) != rejected:
            text = "reject the cell" if rejected else "take back the rejection"
            session.history.push(SetSessionValue(session.extra, CELL_STATUS_KEY, REJECTED if rejected else None, text))
        target = session.default_save_path()
        if self.case.current_row() is not None and target is not None:
            window.files.save_to(target)
        window.status.message(f"{session.key} {'rejected: left out of the tally' if rejected else 'counts again'}")
        self.sync()
        return True

    def targets_dialog(self) -> bool:
        dialog = TargetsDialog(lab_targets(), self.case.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        set_lab_targets(dialog.targets())
        self.case.refresh()
        return True
