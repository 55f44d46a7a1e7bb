"""The status bar: messages, cursor position and pixel value, zoom, and the model-run progress."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

MESSAGE_MS = 6000


class StatusBar(QStatusBar):
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_label = QLabel()
        self.position = QLabel()
        self.position.setMinimumWidth(170)
        self.zoom = QLabel()
        self.zoom.setMinimumWidth(60)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the model run (Esc)")
        self.cancel.clicked.connect(self.cancel_requested)
        for widget in (self.progress, self.cancel, self.model_label, self.position, self.zoom):
            self.addPermanentWidget(widget)
        self.show_running(False)

    def message(self, text: str, timeout_ms: int = MESSAGE_MS) -> None:
        self.showMessage(text, timeout_ms)

    def set_model_state(self, text: str) -> None:
        self.model_label.setText(text)

    def show_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel.setVisible(running)
        self.cancel.setEnabled(running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first progress report

    def set_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)
        if message:
            self.showMessage(message)

    def set_zoom(self, scale: float) -> None:
        self.zoom.setText(f"{scale * 100:.0f}%")

    def set_cursor(self, pos: QPointF, image: np.ndarray | None) -> None:
        x, y = int(np.floor(pos.x())), int(np.floor(pos.y()))
        if image is not None and 0 <= y < image.shape[0] and 0 <= x < image.shape[1]:
            self.position.setText(f"x {x}  y {y}  value {int(image[y, x])}")
        else:
            self.position.setText("")
