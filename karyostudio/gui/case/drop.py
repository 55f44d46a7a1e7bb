"""Drag and drop onto the window: an image or annotation file opens it, a folder opens a case.

An event filter on the main window: drag events a child widget ignores travel up to the
window, so a drop anywhere (canvas, panels) ends here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QEvent, QMimeData, QObject, QTimer
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QWidget

from karyostudio.workspace.session import OPENABLE_SUFFIXES


def dropped_path(mime: QMimeData) -> Path | None:
    """The first local folder or openable file among dropped URLs, else None."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir() or (path.is_file() and path.suffix.lower() in OPENABLE_SUFFIXES):
            return path
    return None


class DropOpener(QObject):
    def __init__(self, window: QWidget, open_path: Callable[[Path], object]):
        super().__init__(window)
        self._open_path = open_path
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            assert isinstance(event, (QDragEnterEvent, QDragMoveEvent))
            if dropped_path(event.mimeData()) is not None:
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            path = dropped_path(event.mimeData())
            if path is None:
                event.ignore()
                return True
            event.acceptProposedAction()
            # Opened after the drop has finished: a dialog (unsaved changes, errors) must not run
            # inside the drag-and-drop event loop of the source application.
            QTimer.singleShot(0, lambda: self._open_path(path))
            return True
        return False
