"""Display controls for the image: black and white levels, gamma, invert (the data is untouched)."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QPushButton, QSlider, QWidget

from karyostudio.gui.canvas.display import DisplaySettings, auto_settings, default_settings, value_range

_GAMMA_STEPS = 100  # slider units per factor of 10 in gamma


class DisplayPanel(QWidget):
    settings_changed = Signal(object)  # DisplaySettings

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._image = None
        self._updating = False
        self.low = QSlider(Qt.Orientation.Horizontal)
        self.high = QSlider(Qt.Orientation.Horizontal)
        self.gamma = QSlider(Qt.Orientation.Horizontal)
        self.gamma.setRange(-_GAMMA_STEPS, _GAMMA_STEPS)  # log10 scale: gamma 0.1 .. 10
        self.invert = QCheckBox("Invert")
        auto = QPushButton("Auto")
        auto.setToolTip("Stretch between the 0.5th and 99.5th percentiles of the image")
        reset = QPushButton("Reset")
        buttons = QHBoxLayout()
        buttons.addWidget(self.invert)
        buttons.addStretch(1)
        buttons.addWidget(auto)
        buttons.addWidget(reset)
        form = QFormLayout(self)
        form.addRow("Black", self.low)
        form.addRow("White", self.high)
        form.addRow("Gamma", self.gamma)
        form.addRow(buttons)
        for slider in (self.low, self.high, self.gamma):
            slider.valueChanged.connect(self._emit)
        self.invert.toggled.connect(self._emit)
        auto.clicked.connect(lambda: self._apply(auto_settings(self._image)) if self._image is not None else None)
        reset.clicked.connect(lambda: self._apply(default_settings(self._image)) if self._image is not None else None)
        self.setEnabled(False)

    def set_image(self, image, settings: DisplaySettings | None) -> None:
        """Follow a new image (and the settings it is shown with)."""
        self._image = image
        self.setEnabled(image is not None)
        if image is None or settings is None:
            return
        maximum = value_range(image)
        self._updating = True
        try:
            self.low.setRange(0, maximum - 1)
            self.high.setRange(1, maximum)
        finally:
            self._updating = False
        self._apply(settings, emit=False)

    def settings(self) -> DisplaySettings:
        low, high = self.low.value(), self.high.value()
        if high <= low:
            high = low + 1
        gamma = 10.0 ** (self.gamma.value() / _GAMMA_STEPS)
        return DisplaySettings(low, high, round(gamma, 3), self.invert.isChecked())

    def _apply(self, settings: DisplaySettings, emit: bool = True) -> None:
        self._updating = True
        try:
            self.low.setValue(settings.low)
            self.high.setValue(settings.high)
            self.gamma.setValue(round(math.log10(settings.gamma) * _GAMMA_STEPS))
            self.invert.setChecked(settings.invert)
        finally:
            self._updating = False
        if emit:
            self._emit()

    def _emit(self) -> None:
        if not self._updating and self._image is not None:
            self.settings_changed.emit(self.settings())
