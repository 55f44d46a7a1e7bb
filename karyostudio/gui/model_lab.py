"""The "Training" and "Evaluation" docks: retrain and measure models without leaving the app.

Both docks start hidden (tabified together); View > Training / Evaluation shows them. A model
installed from the training panel appears in the model chooser and the evaluation panel at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from karyostudio.gui.actions import menu
from karyostudio.gui.panels.evaluation import EvaluationPanel
from karyostudio.gui.panels.training import TrainingPanel
from karyostudio.gui.workers import PredictorLoader

if TYPE_CHECKING:
    from karyostudio.gui.main_window import MainWindow


class ModelLab:
    def __init__(self, window: "MainWindow", loader: PredictorLoader):
        self.window = window
        self.training = TrainingPanel()
        self.evaluation = EvaluationPanel(self._model_names, loader)
        self.docks = [self._dock("Training", self.training), self._dock("Evaluation", self.evaluation)]
        window.tabifyDockWidget(self.docks[0], self.docks[1])
        view_menu = menu(window, "view")
        view_menu.addSeparator()
        for dock in self.docks:
            dock.hide()
            view_menu.addAction(dock.toggleViewAction())
        self.training.model_installed.connect(self._model_installed)

    def _dock(self, title: str, widget) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _model_names(self) -> list[str]:
        return [info.name for info in self.window.models.infos if info.weights_present]

    def _model_installed(self, manifest_path: str) -> None:
        self.window.models.refresh()
        self.evaluation.refresh_models()
        self.window.status.message(f"model installed: {manifest_path}")

    def shutdown(self) -> None:
        self.training.shutdown()
        self.evaluation.shutdown()
