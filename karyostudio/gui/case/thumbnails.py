"""Small previews of a case's cells for the case list, read a few at a time on the GUI thread.

A cell's thumbnail is read the first time the list asks for it; reading happens one image per
event-loop turn (a JPEG of a metaphase reads in tens of milliseconds), so a long case fills in
while the app stays responsive. Previews are cached by path and modification time.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QPixmap

from karyostudio.gui.canvas.display import default_settings, render_display
from karyostudio.gui.canvas.image_item import gray_to_qimage
from karyostudio.io.errors import FormatError
from karyostudio.io.images import read_image

THUMBNAIL_PX = 44


def thumbnail_array(image: np.ndarray, size: int = THUMBNAIL_PX) -> np.ndarray:
    """The image (shown as the canvas shows it) shrunk to fit size x size pixels."""
    shown = render_display(image, default_settings(image))
    h, w = shown.shape
    scale = size / max(h, w)
    return cv2.resize(shown, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


class Thumbnails(QObject):
    ready = Signal(object)  # the image path whose thumbnail is now available

    def __init__(self, parent: QObject | None = None, size: int = THUMBNAIL_PX):
        super().__init__(parent)
        self.size = size
        self._cache: dict[Path, tuple[int, QPixmap | None]] = {}
        self._queue: deque[Path] = deque()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._read_next)

    def get(self, path: Path) -> QPixmap | None:
        """The cached thumbnail, or None (then it is read soon and ``ready`` says so)."""
        cached = self._cache.get(path)
        if cached is not None and cached[0] == _mtime(path):
            return cached[1]
        if path not in self._queue:
            self._queue.append(path)
            self._timer.start()
        return None

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _read_next(self) -> None:
        if not self._queue:
            return
        path = self._queue.popleft()
        try:
            pixmap = QPixmap.fromImage(gray_to_qimage(thumbnail_array(read_image(path), self.size)))
        except (FormatError, OSError, ValueError):
            pixmap = None  # an unreadable image gets no preview (its row says why)
        self._cache[path] = (_mtime(path), pixmap)
        self.ready.emit(path)
        if self._queue:
            self._timer.start()


def _mtime(path: Path) -> int:
    try:
        return Path(path).stat().st_mtime_ns
    except OSError:
        return -1
