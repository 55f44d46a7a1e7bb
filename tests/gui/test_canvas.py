"""The canvas view: zoom about the cursor, panning, fitting; the model state in the status bar."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from karyostudio.models.registry import ModelInfo


@pytest.fixture
def shown(window, image_file):
    assert window.files.open_path(image_file)
    window.view.fit_to_window()
    return window


def wheel(view, pos: QPoint, delta: int) -> None:
    event = QWheelEvent(QPointF(pos), QPointF(view.viewport().mapToGlobal(pos)), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)


def test_wheel_zooms_about_the_cursor(shown, qtbot):
    view = shown.view
    view.zoom_by(4.0)  # the image overflows the window both ways, so any point can stay put
    image_px = view.mapFromScene(shown.scene.image_rect()).boundingRect()
    assert image_px.width() > view.viewport().width() and image_px.height() > view.viewport().height()
    pos = view.mapFromScene(QPointF(130, 100))
    anchor = view.mapToScene(pos)
    zoom = view.zoom
    for _ in range(4):
        wheel(view, pos, 120)
    assert view.zoom == pytest.approx(zoom * 2.0, rel=1e-6)  # four notches double the scale
    after = view.mapToScene(pos)
    assert math.hypot(after.x() - anchor.x(), after.y() - anchor.y()) <= 2.0 / view.zoom
    wheel(view, pos, -480)
    assert view.zoom == pytest.approx(zoom, rel=1e-6)
    assert shown.status.zoom.text() == f"{zoom * 100:.0f}%"


def test_middle_drag_pans_and_fit_shows_the_whole_image(shown, qtbot):
    view = shown.view
    view.zoom_by(6.0)
    h, v = view.horizontalScrollBar(), view.verticalScrollBar()
    h.setValue((h.minimum() + h.maximum()) // 2)
    v.setValue((v.minimum() + v.maximum()) // 2)
    start_h, start_v = h.value(), v.value()
    viewport = view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(200, 200))
    qtbot.mouseMove(viewport, QPoint(150, 170))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(150, 170))
    assert (h.value() - start_h, v.value() - start_v) == (50, 30)
    assert shown.session.document.snapshot() == ()  # panning edits nothing

    view.fit_to_window()
    visible = view.mapToScene(viewport.rect()).boundingRect()
    assert visible.contains(shown.scene.image_rect())


def test_missing_default_model_is_reported_in_the_status_bar(qtbot, tmp_path):
    from karyostudio.gui.main_window import MainWindow

    missing = ModelInfo("default-cpu", "classic", "", None, False)
    win = MainWindow(predictor_loader=lambda name: None, model_lister=lambda: [missing],
                     recovery_directory=tmp_path / "recovery")
    qtbot.addWidget(win)
    assert "default-cpu is not installed" in win.status.model_label.text()
    assert win.models.combo.currentText() == "default-cpu (not installed)"
    win.discard_and_close()


def test_shortcuts_are_unambiguous_and_cover_frequent_actions(window):
    from PySide6.QtGui import QKeySequence

    seen: dict[str, str] = {}
    for action in window.act.all():
        for key in action.shortcuts():
            text = key.toString(QKeySequence.SequenceFormat.PortableText)
            assert text not in seen, f"{text} is bound to both {seen[text]} and {action.text()}"
            seen[text] = action.text()
    a = window.act
    for action in (a.open, a.save, a.undo, a.redo, a.delete, a.toggle_reviewed, a.draw_tool, a.fit, a.run_model):
        assert action.shortcuts(), action.text()
    # class keys are not actions, so they never shadow another shortcut
    assert not {"0", "1", "2", "9", "X", "Y"} & set(seen)
