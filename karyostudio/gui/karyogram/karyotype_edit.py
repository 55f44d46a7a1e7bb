"""The karyotype line above the karyogram: counted from the labels, or a reviewer's validated ISCN string.

The line shows the ISCN string counted from the chromosome labels (clusters left out) until
a reviewer types another one. Typing is checked as it happens: invalid ISCN turns the field
red and says why, and nothing is stored. A valid string confirmed with Enter is stored in the
session's top-level extra keys under KARYOTYPE_OVERRIDE_KEY (written into the labelme file on
save, read back on open) by one undoable command; confirming the counted string, or "Auto",
removes the override.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from karyostudio.core.cell_count import count_cell
from karyostudio.core.commands import Command
from karyostudio.core.document import Document
from karyostudio.core.iscn import IscnError, validate_karyotype
from karyostudio.workspace.session import Session

KARYOTYPE_OVERRIDE_KEY = "karyotype_override"
_INVALID_STYLE = "QLineEdit { background: #ffd6d6; color: #900; }"


class SetSessionValue(Command):
    """Set (or with None remove) one top-level key saved with the session's file, undoably.

    The instances do not change, so no document event fires; views follow the history instead.
    """

    def __init__(self, values: dict[str, Any], key: str, value: Any, text: str):
        super().__init__()
        self.values, self.key, self.value, self.text = values, key, value, text
        self._previous: Any = None
        self._had = False

    def apply(self, doc: Document) -> None:
        self._had, self._previous = self.key in self.values, self.values.get(self.key)
        self._set(self.value)

    def revert(self, doc: Document) -> None:
        self._set(self._previous if self._had else None)

    def _set(self, value: Any) -> None:
        if value is None:
            self.values.pop(self.key, None)
        else:
            self.values[self.key] = value


def counted_karyotype(session: Session) -> str:
    return count_cell(session.document.instances).karyotype


def karyotype_override(session: Session) -> str | None:
    value = session.extra.get(KARYOTYPE_OVERRIDE_KEY)
    return value if isinstance(value, str) and value.strip() else None


def effective_karyotype(session: Session) -> str:
    """What the karyogram reports: the reviewer's string when there is one, else the counted one."""
    return karyotype_override(session) or counted_karyotype(session)


class KaryotypeBar(QWidget):
    """Label, editable ISCN field, "Auto" button and a line that says where the string comes from."""

    committed = Signal(str)  # a stored change (the new effective karyotype)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.session: Session | None = None
        self.field = QLineEdit()
        self.field.setPlaceholderText("ISCN karyotype, e.g. 47,XX,+21")
        self.field.setToolTip("The karyotype (ISCN). Type a correction and press Enter to store it with the file.")
        self.auto_button = QToolButton()
        self.auto_button.setText("Auto")
        self.auto_button.setToolTip("Use the karyotype counted from the chromosome labels")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Karyotype:"))
        row.addWidget(self.field, 1)
        row.addWidget(self.auto_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(1)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.error: str | None = None
        self.field.textEdited.connect(self._validate)
        self.field.returnPressed.connect(self.commit)
        self.auto_button.clicked.connect(self.use_counted)

    def set_session(self, session: Session | None) -> None:
        self.session = session
        if session is not None:
            session.history.subscribe(lambda s=session: self.refresh() if s is self.session else None)
        self.refresh()

    def refresh(self) -> None:
        """Show the effective karyotype (unless the reviewer is halfway through typing one)."""
        if self.session is None:
            self.field.clear()
            self.status.clear()
            return
        if not (self.field.hasFocus() and self.field.isModified()):
            self.field.setText(effective_karyotype(self.session))
            self.field.setModified(False)
            self._show_error(None)
        self._show_source()

    def _show_source(self) -> None:
        if self.error is not None or self.session is None:
            return
        override, counted = karyotype_override(self.session), counted_karyotype(self.session)
        if override is None:
            self.status.setText("counted from the labels" if counted else "no chromosomes yet")
        elif override == counted:
            self.status.setText("reviewer's karyotype (agrees with the labels)")
        else:
            self.status.setText(f"reviewer's karyotype; the labels count {counted or 'nothing'}")
        self.status.setStyleSheet("")

    def _validate(self, text: str) -> bool:
        try:
            validate_karyotype(text)
        except IscnError as exc:
            self._show_error(str(exc))
            return False
        self._show_error(None)
        self._show_source()
        return True

    def _show_error(self, reason: str | None) -> None:
        self.error = reason
        self.field.setStyleSheet(_INVALID_STYLE if reason else "")
        if reason:
            self.status.setText(f"not valid ISCN: {reason}")
            self.status.setStyleSheet("color: #b00000;")
        self.field.setToolTip(reason or "The karyotype (ISCN). Type a correction and press Enter to store it "
                                        "with the file.")

    def commit(self) -> bool:
        """Store the typed string if it is valid ISCN (one undo step); False when it is not."""
        if self.session is None:
            return False
        text = self.field.text().strip()
        if not self._validate(text):
            return False
        value = None if text == counted_karyotype(self.session) else text
        return self._store(value)

    def use_counted(self) -> None:
        self._show_error(None)
        self.field.setModified(False)
        self._store(None)
        self.refresh()

    def _store(self, value: str | None) -> bool:
        session = self.session
        if session is None or value == karyotype_override(session):
            self.field.setModified(False)
            self.refresh()
            return value == karyotype_override(session) if session is not None else False
        text = f"set the karyotype to {value}" if value else "use the counted karyotype"
        self.field.setModified(False)
        session.history.push(SetSessionValue(session.extra, KARYOTYPE_OVERRIDE_KEY, value, text))
        self.committed.emit(effective_karyotype(session))
        return True
