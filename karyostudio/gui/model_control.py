"""The "Run model" feature: model chooser, worker run with progress and Cancel, result as one command.

The result of a run replaces all outlines as ONE ReplaceInstances command, so a single undo
brings back what was there before. A result that arrives after the user opened another file
is dropped (it belongs to an image that is no longer shown). A run that fails on the GPU is
offered again on the CPU.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QWidget

from karyostudio.core.cell_count import count_cell
from karyostudio.core.commands import ReplaceInstances
from karyostudio.gui.compute import ComputeService
from karyostudio.gui.dialogs.messages import ask_yes_no, show_error
from karyostudio.gui.run_errors import RunError
from karyostudio.gui.run_request import CPU, RunRequest
from karyostudio.gui.selection import Selection
from karyostudio.gui.session_model import SessionModel
from karyostudio.gui.settings import app_settings
from karyostudio.gui.status_sink import StatusSink
from karyostudio.gui.workers import ModelRunner
from karyostudio.models.registry import DEFAULT_MODEL, ModelInfo

ModelLister = Callable[[], list[ModelInfo]]
_MODEL_KEY = "models/last"
_SPLIT_KEY = "models/split_clusters"
DEFAULT_SPLITTER = "chromseg-cpu"


def list_models() -> list[ModelInfo]:
    from karyostudio.models.registry import available_models

    return available_models()


class ModelController(QObject):
    def __init__(self, sessions: SessionModel, compute: ComputeService, selection: Selection, status: StatusSink,
                 lister: ModelLister = list_models, dialog_parent: QWidget | None = None):
        super().__init__(dialog_parent)
        self.sessions = sessions
        self.compute = compute
        self.selection = selection
        self.status = status
        self.dialog_parent = dialog_parent
        self._lister = lister
        self._infos: list[ModelInfo] = []
        self._run_session = None
        self._run_request: RunRequest | None = None
        self.combo = QComboBox()
        self.combo.setToolTip("Model used by Run model")
        self.combo.setMinimumContentsLength(14)
        self.split_action = QAction("&Split crossing clusters (ChromSeg)", self)
        self.split_action.setCheckable(True)
        self.split_action.setToolTip("After the model, split outlines holding crossing chromosomes with the "
                                     f"ChromSeg splitter ({DEFAULT_SPLITTER}) and name the pieces")
        self.split_action.setChecked(app_settings().value(_SPLIT_KEY, False, type=bool))
        self.split_action.toggled.connect(lambda on: app_settings().setValue(_SPLIT_KEY, on))
        self.runner = ModelRunner(compute.predictors, self)
        self.runner.progress.connect(status.set_progress)
        self.runner.succeeded.connect(self._succeeded)
        self.runner.failed.connect(self._failed)
        self.runner.cancelled.connect(lambda: status.message("model run cancelled"))
        self.combo.currentIndexChanged.connect(self._model_chosen)

    @property
    def model_name(self) -> str | None:
        return self.combo.currentData()

    @property
    def run_request(self) -> RunRequest | None:
        """What a run loads: the chosen model, with the cluster splitter when that is switched on,
        on the chosen device; None when no model is available."""
        name = self.model_name
        if name is None:
            return None
        return self.compute.request(name, DEFAULT_SPLITTER if self.split_action.isChecked() else None)

    @property
    def infos(self) -> list[ModelInfo]:
        """The models listed in the chooser (as of the last refresh)."""
        return list(self._infos)

    def installed_names(self) -> list[str]:
        return [info.name for info in self._infos if info.weights_present]

    def refresh(self, preferred: str | None = None) -> None:
        """Fill the chooser (default model first); prefer the given or last used model."""
        self._infos = self._lister()
        wanted = preferred or str(app_settings().value(_MODEL_KEY, DEFAULT_MODEL))
        self.combo.blockSignals(True)
        self.combo.clear()
        for info in self._infos:
            text = info.name if info.weights_present else f"{info.name} (not installed)"
            self.combo.addItem(text, info.name)
            self.combo.setItemData(self.combo.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        index = self.combo.findData(wanted)
        if index < 0 and preferred is not None:  # a name the lister does not know (a path, say)
            self.combo.addItem(preferred, preferred)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(max(index, 0))
        self.combo.blockSignals(False)
        self._show_model_state()

    def installed(self, name: str | None) -> bool:
        info = next((i for i in self._infos if i.name == name), None)
        return info is None or info.weights_present  # unknown names may be paths; let loading decide

    def run(self) -> bool:
        """Start the chosen model on the current image; False when it cannot start."""
        session = self.sessions.session
        request = self.run_request
        if session.image is None:
            self.status.message("open an image first: there is nothing to analyse")
            return False
        if request is None:
            self.status.message("no model is available")
            return False
        job = f"the model run {request.label}"
        refusal = self.compute.refusal(job)
        if refusal is not None:
            self.status.message(refusal)
            return False
        if not self.compute.start(job, self.runner, lambda: self.runner.start(request, session.image)):
            return False
        self._run_session, self._run_request = session, request
        self.status.message(f"running {request.label}…", 0)
        return True

    def cancel(self) -> None:
        if self.runner.running:
            self.runner.cancel()
            self.status.message("cancelling…", 0)

    def _model_chosen(self) -> None:
        if self.model_name is not None:
            app_settings().setValue(_MODEL_KEY, self.model_name)
        self._show_model_state()

    def _show_model_state(self) -> None:
        name = self.model_name
        if name is None:
            text = "no model available"
        elif not self.installed(name):
            text = f"model {name} is not installed (see `karyostudio models`)"
        else:
            text = f"model: {name}"
        self.status.set_model_state(text)

    def _succeeded(self, instances, request: RunRequest) -> None:
        session, self._run_session = self._run_session, None
        if session is not self.sessions.session:
            self.status.message("a model result for a closed image was dropped")
            return
        self.selection.clear()
        session.history.push(ReplaceInstances(instances, text=f"run model {request.label}"))
        self.status.message(f"{request.label}: {count_cell(instances).result_text()}")

    def _failed(self, error: RunError) -> None:
        session, self._run_session = self._run_session, None
        request, self._run_request = self._run_request, None
        if error.gpu_failure and request is not None and request.device != CPU:
            if ask_yes_no(self.dialog_parent, "GPU run failed",
                          f"The model could not run on the GPU:\n\n{error.summary}\n\nRun it on the CPU instead?"):
                self.compute.set_device(CPU)
                if session is self.sessions.session:
                    self.run()
                return
        self.status.message(f"model run failed: {error.summary}", 0)
        show_error(self.dialog_parent, "Model run failed", f"The model could not analyse the image.\n\n{error.message}")
