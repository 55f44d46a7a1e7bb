"""The karyogram pane: a main view beside the metaphase, in a splitter the user sizes.

The pane holds the karyotype line, the karyogram toolbar, the page view (refitted whenever it
is resized or the layout changes) and under it the strip of unplaced objects (unnamed
chromosomes, clusters, other objects) to drag into a slot. ``install_beside`` puts the pane
right of the window's central widget in a QSplitter; the splitter's sizes and whether the pane
is shown are remembered in the settings.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QSizePolicy, QSplitter, QToolBar, QVBoxLayout, QWidget

from karyostudio.gui.karyogram.scene import KaryogramScene
from karyostudio.gui.karyogram.view import KaryogramView
from karyostudio.gui.settings import app_settings

SPLITTER_KEY = "karyogram/splitter"
INNER_SPLITTER_KEY = "karyogram/strip_splitter"
VISIBLE_KEY = "karyogram/visible"
STRIP_HEIGHT = 110


class KaryogramPane(QWidget):
    def __init__(self, scene: KaryogramScene, header: QWidget, toolbar: QToolBar, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("karyogram_pane")
        self.scene = scene
        self.view = KaryogramView(scene)
        self.view.setMinimumSize(120, 90)
        self.strip_view = KaryogramView(scene, region=lambda: scene.strip_rect)
        self.strip_view.setMinimumHeight(40)
        self.view.peers, self.strip_view.peers = [self.strip_view], [self.view]
        self.strip_label = QLabel()
        self.strip_label.setWordWrap(True)
        self.strip_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        strip_box = QWidget()
        strip_layout = QVBoxLayout(strip_box)
        strip_layout.setContentsMargins(0, 0, 0, 0)
        strip_layout.setSpacing(0)
        strip_layout.addWidget(self.strip_label)
        strip_layout.addWidget(self.strip_view, 1)
        self.inner = QSplitter(Qt.Orientation.Vertical)
        self.inner.setChildrenCollapsible(False)
        self.inner.addWidget(self.view)
        self.inner.addWidget(strip_box)
        self.inner.setStretchFactor(0, 1)
        self.inner.setStretchFactor(1, 0)
        self.inner.setSizes([600, STRIP_HEIGHT])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(header)
        layout.addWidget(toolbar)
        layout.addWidget(self.inner, 1)
        scene.page_changed.connect(self._update_strip_label)
        self._update_strip_label()

    def _update_strip_label(self) -> None:
        count = len(self.scene.unplaced)
        self.strip_label.setText(
            f"Not placed: {count} object(s), drag one onto a class to name it" if count else
            "Not placed: nothing (unnamed chromosomes and clusters would be listed here)")

    def fit(self) -> None:
        self.view.fit()
        self.strip_view.fit()


def install_beside(window: QMainWindow, pane: KaryogramPane) -> QSplitter:
    """Put pane right of the window's central widget in a splitter; restore its sizes and visibility."""
    central = window.takeCentralWidget()
    splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.setObjectName("karyogram_splitter")
    splitter.setChildrenCollapsible(False)
    splitter.addWidget(central)
    splitter.addWidget(pane)
    splitter.setStretchFactor(0, 1)
    splitter.setStretchFactor(1, 1)
    window.setCentralWidget(splitter)
    settings = app_settings()
    for widget, key in ((splitter, SPLITTER_KEY), (pane.inner, INNER_SPLITTER_KEY)):
        state = settings.value(key)
        if isinstance(state, QByteArray):
            widget.restoreState(state)
        widget.splitterMoved.connect(lambda *_args, w=widget, k=key: app_settings().setValue(k, w.saveState()))
    pane.setVisible(remembered_visible())
    return splitter


def remembered_visible() -> bool:
    value = app_settings().value(VISIBLE_KEY, True)
    return value is True or str(value).lower() in ("true", "1")


def remember_visible(visible: bool) -> None:
    app_settings().setValue(VISIBLE_KEY, bool(visible))
