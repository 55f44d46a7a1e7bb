"""Review decisions on a whole cell: reject an unanalysable cell, and the case's lab targets.

Rejecting a cell (Edit > Reject cell, unanalysable) stores ``cellStatus: rejected`` in its
labelme file as one undoable step and saves the cell at once when it belongs to the open case,
so the case table and tally leave it out straight away; doing it again takes the mark back.
The lab targets (count N cells, analyse M, make K karyograms; 20, 5 and 2 by default) are
remembered in the settings and shown against the case's progress in the tally and the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget

from karyostudio.gui.actions import Menus, _action
from karyostudio.gui.karyogram.karyotype_edit import SetSessionValue
from karyostudio.gui.session_model import SessionModel
from karyostudio.gui.settings import app_settings
from karyostudio.gui.status_sink import StatusSink
from karyostudio.io.case_report import CELL_STATUS_KEY, REJECTED, LabTargets

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
    """The reject action and the targets dialog.

    ``save_to`` saves the open document; ``in_case`` says whether it is a cell of the open case
    (then a rejection is saved at once); ``refresh_case`` re-reads the case after new targets.
    """

    def __init__(self, sessions: SessionModel, status: StatusSink, save_to: Callable[[Path], bool],
                 in_case: Callable[[], bool], refresh_case: Callable[[], None], host: QWidget, menus: Menus):
        super().__init__(host)
        self.sessions = sessions
        self.status = status
        self._save_to = save_to
        self._in_case = in_case
        self._refresh_case = refresh_case
        self.host = host
        self.reject_action = _action(host, "Re&ject cell (unanalysable)", "Ctrl+J", checkable=True,
                                     tip="Mark the open cell unanalysable: it stays in the case but leaves the tally")
        self.targets_action = _action(host, "Case &targets\u2026",
                                      tip="Cells to count, cells to analyse and karyograms to make for a case")
        host.addAction(self.reject_action)
        menus.edit.addSeparator()
        menus.edit.addAction(self.reject_action)
        menus.analysis.addAction(self.targets_action)
        self.reject_action.triggered.connect(lambda checked: self.set_rejected(checked))
        self.targets_action.triggered.connect(self.targets_dialog)

    def sync(self) -> None:
        """Show the open cell's state on the action (after opening a cell, undo, redo)."""
        self.reject_action.setChecked(is_rejected(self.sessions.session.extra))

    def set_rejected(self, rejected: bool) -> bool:
        """Reject the open cell (or take the mark back): one undo step, saved at once in a case."""
        session = self.sessions.session
        if session.image_path is None:
            self.status.message("open a cell first")
            self.sync()
            return False
        if is_rejected(session.extra) != rejected:
            text = "reject the cell" if rejected else "take back the rejection"
            session.history.push(SetSessionValue(session.extra, CELL_STATUS_KEY, REJECTED if rejected else None, text))
        target = session.default_save_path()
        if self._in_case() and target is not None:
            self._save_to(target)
        self.status.message(f"{session.key} {'rejected: left out of the tally' if rejected else 'counts again'}")
        self.sync()
        return True

    def targets_dialog(self) -> bool:
        dialog = TargetsDialog(lab_targets(), self.host)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        set_lab_targets(dialog.targets())
        self._refresh_case()
        return True
