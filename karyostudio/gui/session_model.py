"""SessionModel: the session being edited, and its changes as Qt signals.

Controllers and views observe this one object instead of the window: ``session_changed`` when
another session is shown (opened, restored, a new cell of a case), ``document_changed`` for every
change of its instances, ``history_changed`` after every push, undo and redo. Signals of a session
that is no longer current are never emitted, so an observer needs no "is this still mine?" check.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from karyostudio.core.document import DocumentChanged
from karyostudio.workspace.session import Session


class SessionModel(QObject):
    session_changed = Signal(object)  # Session
    document_changed = Signal(object)  # DocumentChanged
    history_changed = Signal()

    def __init__(self, parent: QObject | None = None, session: Session | None = None):
        super().__init__(parent)
        self._session = session if session is not None else Session.empty()
        self._unsubscribe = self._follow(self._session)

    @property
    def session(self) -> Session:
        return self._session

    def set_session(self, session: Session) -> None:
        """Show another session (the caller has dealt with the previous one's unsaved changes)."""
        self._unsubscribe()
        self._session = session
        self._unsubscribe = self._follow(session)
        self.session_changed.emit(session)
        self.history_changed.emit()  # undo texts, the title and the like start over

    def _follow(self, session: Session):
        # History has no unsubscribe: a replaced session's history stays silent by the identity check.
        session.history.subscribe(lambda: self.history_changed.emit() if session is self._session else None)
        return session.document.subscribe(self._document_changed)

    def _document_changed(self, event: DocumentChanged) -> None:
        self.document_changed.emit(event)
