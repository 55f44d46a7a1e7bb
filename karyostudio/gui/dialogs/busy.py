"""The wait cursor for work the GUI thread does itself for a noticeable moment.

Reading a large case folder or exporting a whole case takes up to a few seconds (about 4 ms and
10 ms per cell, BENCHMARKS.md). The cursor says the window is busy, not frozen; message boxes
come after the work, so they never show the wait cursor.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication


@contextmanager
def busy_cursor() -> Iterator[None]:
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()
