"""Selection: the ids of the selected instances, shared by the canvas and the instance list.

Both views set it and follow its ``changed`` signal, so selecting in one selects in the other.
Instances that leave the document leave the selection too.
"""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QObject, Signal

from karyostudio.core.document import Document, DocumentChanged


class Selection(QObject):
    changed = Signal()
    hover_changed = Signal()  # the instance under the mouse in any view (``hovered``) changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._ids: frozenset[int] = frozenset()
        self._hovered: int | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def ids(self) -> frozenset[int]:
        return self._ids

    def sorted_ids(self) -> list[int]:
        return sorted(self._ids)

    def __bool__(self) -> bool:
        return bool(self._ids)

    def set(self, ids: Iterable[int]) -> None:
        new = frozenset(int(i) for i in ids)
        if new != self._ids:
            self._ids = new
            self.changed.emit()

    def clear(self) -> None:
        self.set(())

    @property
    def hovered(self) -> int | None:
        return self._hovered

    def set_hovered(self, instance_id: int | None) -> None:
        if instance_id != self._hovered:
            self._hovered = instance_id
            self.hover_changed.emit()

    def follow(self, document: Document | None) -> None:
        """Drop ids that the document removes (and does not re-add in the same change)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.clear()
        if document is not None:
            self._unsubscribe = document.subscribe(self._on_change)

    def _on_change(self, event: DocumentChanged) -> None:
        gone = set(event.removed) - set(event.added)
        if gone & self._ids:
            self.set(self._ids - gone)
        if self._hovered in gone:
            self.set_hovered(None)
