"""The "Training" and "Evaluation" docks: retrain and measure models without leaving the app.

Both docks start hidden (the window tabifies them together); View > Training / Evaluation shows
them. Both panels run their jobs through the compute service, so neither shares the GPU with a
model run. A model installed from the training panel appears in the model chooser and the
evaluation panel at once.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QDockWidget, QWidget

from karyostudio.gui.actions import Menus
from karyostudio.gui.compute import ComputeService
from karyostudio.gui.panels.evaluation import EvaluationPanel
from karyostudio.gui.panels.training import TrainingPanel
from karyostudio.gui.status_sink import StatusSink


class ModelLab:
    """``installed_models`` lists the models that can be evaluated; ``refresh_models`` re-reads the
    model chooser after an install."""

    def __init__(self, compute: ComputeService, installed_models: Callable[[], list[str]],
                 refresh_models: Callable[[], None], status: StatusSink, host: QWidget, menus: Menus):
        self._refresh_models = refresh_models
        self.status = status
        self.training = TrainingPanel(compute)
        self.evaluation = EvaluationPanel(installed_models, compute)
        self.docks = [self._dock("Training", self.training, host), self._dock("Evaluation", self.evaluation, host)]
        menus.view.addSeparator()
        for dock in self.docks:
            dock.hide()
            menus.view.addAction(dock.toggleViewAction())
        self.training.model_installed.connect(self._model_installed)

    @staticmethod
    def _dock(title: str, widget: QWidget, host: QWidget) -> QDockWidget:
        dock = QDockWidget(title, host)  # the window places it (right, tabified)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        return dock

    def _model_installed(self, manifest_path: str) -> None:
        self._refresh_models()
        self.evaluation.refresh_models()
        self.status.message(f"model installed: {manifest_path}")

    def shutdown(self) -> None:
        self.training.shutdown()
        self.evaluation.shutdown()
