"""Unlimited undo/redo over commands, with a "clean" mark for unsaved-changes prompts."""

from __future__ import annotations

from typing import Callable

from karyostudio.core.commands import Command
from karyostudio.core.document import Document


class History:
    def __init__(self, document: Document):
        self.document = document
        self._undo: list[Command] = []
        self._redo: list[Command] = []
        self._clean_index: int | None = 0
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Called after every push/undo/redo (to refresh undo-action texts, title bars...)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def push(self, command: Command) -> None:
        """Apply a command and record it; any redo branch is discarded."""
        command.apply(self.document)
        self._undo.append(command)
        if self._clean_index is not None and self._clean_index > len(self._undo) - 1:
            self._clean_index = None  # the saved state was on the discarded redo branch
        self._redo.clear()
        self._notify()

    def undo(self) -> bool:
        if not self._undo:
            return False
        command = self._undo.pop()
        command.revert(self.document)
        self._redo.append(command)
        self._notify()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        command = self._redo.pop()
        command.apply(self.document)
        self._undo.append(command)
        self._notify()
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def mark_clean(self) -> None:
        """Call after saving: the current state is what is on disk."""
        self._clean_index = len(self._undo)
        self._notify()

    @property
    def is_clean(self) -> bool:
        return self._clean_index == len(self._undo)

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._clean_index = 0
        self._notify()
