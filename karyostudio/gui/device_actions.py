"""Analysis > Run on the CPU / GPU: checkable actions that show and set the compute device."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QActionGroup

from karyostudio.gui.compute import DEVICES, ComputeService


def device_actions(compute: ComputeService, parent: QObject) -> QActionGroup:
    group = QActionGroup(parent)
    for device, text in DEVICES:
        action = group.addAction(text)
        action.setCheckable(True)
        action.setData(device)
        action.setChecked(device == compute.device)
    group.triggered.connect(lambda action: compute.set_device(action.data()))
    # The device also changes elsewhere (the training panel, the CPU fallback after a GPU failure).
    compute.device_changed.connect(lambda device: _check(group, device))
    return group


def _check(group: QActionGroup, device: str) -> None:
    for action in group.actions():
        action.setChecked(action.data() == device)
