"""Naming chromosomes from the keyboard: 1-9, 0 (= 10), X, Y, and two digits for 11-22.

"1" and "2" may start a two-digit class, so they wait up to TWO_KEY_TIMEOUT_MS for a second
digit: "2", "1" names 21 (one undo step); "2" alone names 2 when the time runs out, or at once
when the next key cannot extend it ("2", "5" names 2, then 5). The other keys name at once.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent

from karyostudio.core.classes import is_class_name

TWO_KEY_TIMEOUT_MS = 1000
_PREFIXES = ("1", "2")  # the first digits of 10..22


class LabelKeyEntry(QObject):
    """Turns typed characters into class names; emits ``chosen`` with each completed name."""

    chosen = Signal(str)
    pending_changed = Signal(str)  # the digit waiting for a second one ("" when none)

    def __init__(self, timeout_ms: int = TWO_KEY_TIMEOUT_MS, parent: QObject | None = None):
        super().__init__(parent)
        self._pending = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(timeout_ms)
        self._timer.timeout.connect(self.commit)

    @property
    def pending(self) -> str:
        return self._pending

    @staticmethod
    def accepts(text: str) -> bool:
        return len(text) == 1 and (text.isdigit() or text in "xXyY")

    def feed(self, text: str) -> None:
        """Handle one typed character (a digit, x or y)."""
        if not self.accepts(text):
            raise ValueError(f"not a class key: {text!r}")
        text = text.upper()
        if self._pending:
            candidate = self._pending + text
            if is_class_name(candidate):
                self._set_pending("")
                self.chosen.emit(candidate)
                return
            self.commit()
        if text in _PREFIXES:
            self._set_pending(text)
            self._timer.start()
        else:
            self.chosen.emit("10" if text == "0" else text)

    def commit(self) -> None:
        """Name the waiting digit now (time-out, Enter, or a key that cannot extend it)."""
        pending = self._pending
        if pending:
            self._set_pending("")
            self.chosen.emit(pending)

    def cancel(self) -> None:
        self._set_pending("")

    def _set_pending(self, text: str) -> None:
        if not text:
            self._timer.stop()
        if text != self._pending:
            self._pending = text
            self.pending_changed.emit(text)


class LabelKeyFilter(QObject):
    """Event filter for the widgets that name chromosomes by key (canvas, instance list)."""

    def __init__(self, entry: LabelKeyEntry, parent: QObject | None = None):
        super().__init__(parent)
        self.entry = entry

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress:
            return False
        assert isinstance(event, QKeyEvent)
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier & ~Qt.KeyboardModifier.ShiftModifier
        if modifiers != Qt.KeyboardModifier.NoModifier:
            return False
        if self.entry.accepts(event.text()):
            self.entry.feed(event.text())
            return True
        if self.entry.pending and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.entry.commit()
            return True
        if self.entry.pending and event.key() == Qt.Key.Key_Escape:
            self.entry.cancel()
            return True
        return False
