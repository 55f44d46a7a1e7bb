"""Real mouse gestures on the canvas for the editing-tool tests."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QPointF, Qt

from karyostudio.core.commands import AddInstances
from karyostudio.core.instance import Instance

NoModifier = Qt.KeyboardModifier.NoModifier


def at(window, x: float, y: float):
    return window.view.mapFromScene(QPointF(x, y))


def drag(qtbot, window, points: Sequence[tuple[float, float]], button=Qt.MouseButton.LeftButton,
         modifier=NoModifier) -> None:
    """Press at the first point, move through the others, release at the last."""
    viewport = window.view.viewport()
    qtbot.mousePress(viewport, button, modifier, at(window, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(viewport, at(window, *point))
    qtbot.mouseRelease(viewport, button, modifier, at(window, *points[-1]))


def click(qtbot, window, x: float, y: float, button=Qt.MouseButton.LeftButton, modifier=NoModifier) -> None:
    qtbot.mouseClick(window.view.viewport(), button, modifier, at(window, x, y))


def prepare(window, qtbot, image_file, instances: list[Instance]) -> None:
    """Open the test image, add outlines as one command, fit, focus the canvas."""
    assert window.files.open_path(image_file)
    window.session.history.push(AddInstances(instances))
    window.view.fit_to_window()
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(lambda: window.view.hasFocus())


def undo_redo_round_trip(window, before, after) -> None:
    """Undo gives exactly `before`, redo exactly `after` (document and canvas)."""
    doc = window.session.document
    assert window.editor.undo()
    assert doc.snapshot() == before
    assert sorted(i.instance_id for i in window.scene.instance_items()) == sorted(i.id for i in before)
    assert window.editor.redo()
    assert doc.snapshot() == after
    for instance in after:
        assert np.array_equal(window.scene.item_for(instance.id).points, instance.polygon)
