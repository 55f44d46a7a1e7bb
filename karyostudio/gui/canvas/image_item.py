"""The metaphase image on the canvas, shown through adjustable display settings."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem

from karyostudio.gui.canvas.display import DisplaySettings, default_settings, render_display


def gray_to_qimage(gray: np.ndarray) -> QImage:
    """A QImage owning a copy of a 2-D uint8 array."""
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    height, width = gray.shape
    return QImage(gray.data, width, height, gray.strides[0], QImage.Format.Format_Grayscale8).copy()


class ImageItem(QGraphicsPixmapItem):
    """Pixel (x, y) of the image covers the scene square [x, x+1) x [y, y+1)."""

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(-1000)
        self.setTransformationMode(Qt.TransformationMode.FastTransformation)  # crisp pixels when zoomed in
        self.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._image: np.ndarray | None = None
        self._settings: DisplaySettings | None = None

    @property
    def image(self) -> np.ndarray | None:
        return self._image

    @property
    def settings(self) -> DisplaySettings | None:
        return self._settings

    def set_image(self, image: np.ndarray | None) -> None:
        self._image = image
        self._settings = default_settings(image) if image is not None else None
        self._refresh()

    def set_settings(self, settings: DisplaySettings) -> None:
        if self._image is None:
            return
        self._settings = settings
        self._refresh()

    def _refresh(self) -> None:
        if self._image is None or self._settings is None:
            self.setPixmap(QPixmap())
            return
        self.setPixmap(QPixmap.fromImage(gray_to_qimage(render_display(self._image, self._settings))))
