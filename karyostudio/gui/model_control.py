"""The "Run model" feature: model chooser, worker run with progress and Cancel, result as one command.

The result of a run replaces all outlines as ONE ReplaceInstances command, so a single undo
brings back what was there before. A result that arrives after the user opened another file
is dropped (it belongs to an image that is no longer shown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox

from karyostudio.core.cell_count import count_cell
from karyostudio.core.commands import ReplaceInstances
from karyostudio.gui.dialogs.messages import ask_yes_no, show_error
from karyostudio.gui.settings import app_settings
from karyostudio.gui.workers import (
    CachingLoader,
    ModelRunner,
    PredictorLoader,
    is_gpu_failure,
    split_device,
    with_device,
)
from karyostudio.models.registry import DEFAULT_MODEL, ModelInfo

if TYPE_CHECKING:
    from karyostudio.gui.main_window import MainWindow

ModelLister = Callable[[], list[ModelInfo]]
_MODEL_KEY = "models/last"
_SPLIT_KEY = "models/split_clusters"
_DEVICE_KEY = "models/device"
# A run name "MODEL[+split:SPLITTER][@device:DEVICE]" loads MODEL (followed by the cluster
# splitter SPLITTER) on DEVICE; without a device part it runs on the CPU.
SPLIT_MARK = "+split:"
DEFAULT_SPLITTER = "chromseg-cpu"
DEVICES = (("cpu", "Run on the &CPU"), ("cuda", "Run on the &GPU (CUDA)"))


def parse_run_name(name: str) -> tuple[str, str | None, str]:
    """(model, splitter or None, device) of a run name."""
    rest, device = split_device(name)
    model, marked, splitter = rest.partition(SPLIT_MARK)
    return model, (splitter if marked else None), device


def splitting_loader(base: PredictorLoader) -> PredictorLoader:
    """A loader that understands run names: the base loader gets "MODEL[@device:DEVICE]"."""

    def load(name: str):
        model, splitter, device = parse_run_name(name)
        predictor = base(with_device(model, device))
        if splitter is None:
            return predictor
        from karyostudio.models.overlap.stage import with_splitter  # imports torch lazily

        return with_splitter(predictor, splitter, device)

    return load


def list_models() -> list[ModelInfo]:
    from karyostudio.models.registry import available_models

    return available_models()


class ModelController(QObject):
    def __init__(self, window: "MainWindow", loader: PredictorLoader, lister: ModelLister = list_models):
        super().__init__(window)
        self.window = window
        self._lister = lister
        self._infos: list[ModelInfo] = []
        self._run_session = None
        self.combo = QComboBox()
        self.combo.setToolTip("Model used by Run model")
        self.combo.setMinimumContentsLength(14)
        self.loader = CachingLoader(splitting_loader(loader))  # shared with whole-case runs: each loads once
        self.split_action = QAction("&Split crossing clusters (ChromSeg)", window)
        self.split_action.setCheckable(True)
        self.split_action.setToolTip("After the model, split outlines holding crossing chromosomes with the "
                                     f"ChromSeg splitter ({DEFAULT_SPLITTER}) and name the pieces")
        self.split_action.setChecked(app_settings().value(_SPLIT_KEY, False, type=bool))
        self.split_action.toggled.connect(lambda on: app_settings().setValue(_SPLIT_KEY, on))
        self.device_actions = QActionGroup(window)
        saved_device = str(app_settings().value(_DEVICE_KEY, "cpu"))
        for device, text in DEVICES:
            action = self.device_actions.addAction(text)
            action.setCheckable(True)
            action.setData(device)
            action.setChecked(device == saved_device)
        if self.device_actions.checkedAction() is None:
            self.device_actions.actions()[0].setChecked(True)
        self.device_actions.triggered.connect(lambda action: app_settings().setValue(_DEVICE_KEY, action.data()))
        self.runner = ModelRunner(self.loader, self)
        self.runner.busy_changed.connect(self._busy_changed)
        self.runner.progress.connect(window.status.set_progress)
        self.runner.succeeded.connect(self._succeeded)
        self.runner.failed.connect(self._failed)
        self.runner.cancelled.connect(lambda: window.status.message("model run cancelled"))
        window.status.cancel_requested.connect(self.cancel)
        self.combo.currentIndexChanged.connect(self._model_chosen)

    @property
    def model_name(self) -> str | None:
        return self.combo.currentData()

    @property
    def device(self) -> str:
        return self.device_actions.checkedAction().data()

    def set_device(self, device: str) -> None:
        for action in self.device_actions.actions():
            if action.data() == device:
                action.setChecked(True)
                app_settings().setValue(_DEVICE_KEY, device)

    @property
    def run_name(self) -> str | None:
        """What a run loads: the chosen model, with the cluster splitter when that is switched on,
        on the chosen device."""
        name = self.model_name
        if name is None:
            return None
        if self.split_action.isChecked():
            name = f"{name}{SPLIT_MARK}{DEFAULT_SPLITTER}"
        return with_device(name, self.device)

    @property
    def infos(self) -> list[ModelInfo]:
        """The models listed in the chooser (as of the last refresh)."""
        return list(self._infos)

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
        session = self.window.session
        name = self.model_name
        if session.image is None:
            self.window.status.message("open an image first: there is nothing to analyse")
            return False
        if name is None:
            self.window.status.message("no model is available")
            return False
        name = self.run_name
        if not self.runner.start(name, session.image):
            return False
        self._run_session = session
        self.window.status.message(f"running {name}…", 0)
        return True

    def cancel(self) -> None:
        if self.runner.running:
            self.runner.cancel()
            self.window.status.message("cancelling…", 0)

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
        self.window.status.set_model_state(text)

    def _busy_changed(self, busy: bool) -> None:
        self.window.status.show_running(busy)
        self.window.act.run_model.setEnabled(not busy)
        self.window.act.cancel_run.setEnabled(busy)
        self.combo.setEnabled(not busy)
        if not busy:
            self.window.status.clearMessage()

    def _succeeded(self, instances, model_name: str) -> None:
        session, self._run_session = self._run_session, None
        if session is not self.window.session:
            self.window.status.message("a model result for a closed image was dropped")
            return
        self.window.selection.clear()
        session.history.push(ReplaceInstances(instances, text=f"run model {model_name}"))
        self.window.status.message(f"{model_name}: {count_cell(instances).result_text()}")

    def _failed(self, message: str) -> None:
        session, self._run_session = self._run_session, None
        if self.device != "cpu" and is_gpu_failure(message):
            first = message.splitlines()[0]
            if ask_yes_no(self.window, "GPU run failed",
                          f"The model could not run on the GPU:\n\n{first}\n\nRun it on the CPU instead?"):
                self.set_device("cpu")
                if session is self.window.session:
                    self.run()
                return
        self.window.status.message(f"model run failed: {message.splitlines()[0]}", 0)
        show_error(self.window, "Model run failed", f"The model could not analyse the image.\n\n{message}")
