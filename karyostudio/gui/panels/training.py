"""The training panel: retrain a model inside the app with the one training engine.

Pick a preset (or a config file), optionally add a folder of reviewed labelme files (the
user's corrections), set where the run goes and its time budget, and start. fit() runs on a
JobThread; its callbacks post losses and epoch metrics to the GUI thread, which plots the loss
(pyqtgraph) and lists the epochs. Cancel stops after the current step with a checkpoint saved.
A finished run's exported model can be installed into the user's model folder, where the model
list finds it.

Runs go into the user's data folder (``$XDG_DATA_HOME/karyostudio/training/<preset>``), never
into the program's own folder whatever the working directory; a relative output folder is taken
inside the user's training folder. Below the preset the panel shows its description and how
long it takes on this machine (karyostudio.gui.panels.preset_info); it starts on the shortest
CPU preset. Training starts through the compute service: on its device (the Device box shows and
sets the app's one device), and only while no model run or evaluation holds it.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from karyostudio.core.progress import CancelToken
from karyostudio.gui.compute import ComputeService, device_names
from karyostudio.gui.jobs import JobRunner, Post
from karyostudio.gui.panels.preset_info import default_preset, preset_info
from karyostudio.gui.program_files import is_shipped, user_training_dir

_STEP_PLOT_EVERY = 1  # plot every loss report; fit already throttles them (log_every)


class _PostingCallbacks:
    """fit callbacks that forward everything to the GUI thread."""

    def __init__(self, post: Post):
        self.post = post

    def on_fit_start(self, info: dict[str, Any]) -> None:
        self.post("start", dict(info))

    def on_data_progress(self, done: int, total: int, message: str = "") -> None:
        self.post("data", (done, total, message))

    def on_step_end(self, step: int, losses: dict[str, float]) -> None:
        self.post("step", (step, float(losses.get("loss", float("nan")))))

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        self.post("epoch", (epoch, dict(metrics)))


def build_config(preset_or_file: str, *, out_dir: str, max_minutes: float | None, device: str,
                 corrections: str = ""):
    """The TrainConfig the panel would run (raises ConfigError/FormatError on bad input)."""
    from karyostudio.training.config import add_labelme_source, load_config, load_preset

    path = Path(preset_or_file).expanduser()
    config = load_config(path) if path.suffix.lower() in (".yaml", ".yml", ".json") else load_preset(preset_or_file)
    changes: dict[str, Any] = {"device": device, "out_dir": str(resolve_out_dir(out_dir, config.name))}
    if max_minutes:
        changes["max_minutes"] = max_minutes
    config = dataclasses.replace(config, **changes)
    if corrections:
        config = add_labelme_source(config, corrections)
    return config


class OutputFolderError(ValueError):
    """The output folder lies among the program's own files."""


def resolve_out_dir(out_dir: str, preset_name: str) -> Path:
    """The run folder: absolute as given, a relative one inside the user's training folder, none:
    <training folder>/<preset>. A folder among the program's own files is refused."""
    path = Path(out_dir).expanduser() if out_dir else Path(preset_name)
    if not path.is_absolute():
        path = user_training_dir() / path
    if is_shipped(path):
        raise OutputFolderError(f"{path} is inside the program's own folder; train into a folder of your own")
    return path


def install_model(manifest_path: Path, target_dir: Path) -> Path:
    """Copy an exported model (manifest + every weights file it names) into a model folder; returns
    the new manifest. The manifest goes last, so a model folder never lists a model whose files are
    not all there."""
    from karyostudio.models.manifest import model_files, read_manifest

    manifest = read_manifest(manifest_path)
    target_dir.mkdir(parents=True, exist_ok=True)
    for path in model_files(manifest):
        shutil.copy2(path, target_dir / path.name)
    target = target_dir / manifest_path.name
    shutil.copy2(manifest_path, target)
    return target


class TrainingPanel(QWidget):
    model_installed = Signal(str)  # manifest path

    def __init__(self, compute: ComputeService, parent: QWidget | None = None):
        super().__init__(parent)
        from karyostudio.training.config import preset_names  # no torch: presets are YAML files

        self.compute = compute
        self.runner = JobRunner(self)
        self.preset = QComboBox()
        self.preset.setEditable(True)  # a config file path may be typed instead
        self.preset.addItems(preset_names())
        short = default_preset()
        if short is not None:
            self.preset.setCurrentText(short)
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.about.setStyleSheet("color: #444;")
        self.corrections = QLineEdit()
        self.corrections.setPlaceholderText("optional: folder of reviewed labelme files")
        browse = QPushButton("…")
        browse.clicked.connect(self._browse_corrections)
        row = QHBoxLayout()
        row.addWidget(self.corrections, 1)
        row.addWidget(browse)
        self.out_dir = QLineEdit()
        self._out_dir_edited = False
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0, 10000)
        self.minutes.setSpecialValueText("preset's")
        self.minutes.setSuffix(" min")
        self.device = QComboBox()
        self.device.addItems(device_names())
        self.device.setCurrentText(compute.device)
        self.device.currentTextChanged.connect(compute.set_device)
        compute.device_changed.connect(self.device.setCurrentText)
        self.start_button = QPushButton("Start training")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.install_button = QPushButton("Install model")
        self.install_button.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.setMinimumHeight(140)
        self.curve = self.plot.plot(pen=pg.mkPen(width=2))
        self.epochs = QTableWidget(0, 2)
        self.epochs.setHorizontalHeaderLabels(["epoch", "metrics"])
        self.epochs.horizontalHeader().setStretchLastSection(True)

        form = QFormLayout()
        form.addRow("Preset or config", self.preset)
        form.addRow(self.about)
        form.addRow("Corrections", row)
        form.addRow("Output folder", self.out_dir)
        form.addRow("Time budget", self.minutes)
        form.addRow("Device", self.device)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.cancel_button, self.install_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.epochs, 1)

        self.preset.currentTextChanged.connect(self._preset_changed)
        self.out_dir.textEdited.connect(lambda _text: setattr(self, "_out_dir_edited", True))
        self._preset_changed(self.preset.currentText())
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.install_button.clicked.connect(self.install)
        self.runner.busy_changed.connect(self._busy)
        self.runner.message.connect(self._on_message)
        self.runner.succeeded.connect(self._on_succeeded)
        self.runner.failed.connect(lambda error: self._set_status(f"training failed: {error.message}"))
        self.runner.cancelled.connect(lambda: self._set_status(
            f"cancelled; a checkpoint in {self._config.out_dir} lets the run resume"))
        self._steps: list[float] = []
        self._losses: list[float] = []
        self._config = None
        self.manifest: Path | None = None

    # --- actions -----------------------------------------------------------------------------
    def start(self) -> bool:
        """Start training with the panel's settings; False (with the reason shown) when it cannot."""
        from karyostudio.io.errors import FormatError
        from karyostudio.training.config import ConfigError

        if self.runner.running:
            return False
        try:
            config = build_config(self.preset.currentText().strip(), out_dir=self.out_dir.text().strip(),
                                  max_minutes=self.minutes.value() or None, device=self.compute.device,
                                  corrections=self.corrections.text().strip())
        except (ConfigError, FormatError, OSError, OutputFolderError) as exc:
            self._set_status(f"cannot start: {exc}")
            return False
        job = f"training {config.name}"
        refusal = self.compute.refusal(job)
        if refusal is not None:
            self._set_status(refusal)
            return False
        self._config = config
        self._steps.clear()
        self._losses.clear()
        self.curve.setData([], [])
        self.epochs.setRowCount(0)
        self.manifest = None
        self.install_button.setEnabled(False)
        self._set_status(f"training {config.name} ({config.family}) into {config.out_dir}")

        def work(post: Post, cancel: CancelToken):
            from karyostudio.training.data_check import check_training_data
            from karyostudio.training.engine import fit

            check_training_data(config)  # refuses data whose every label is unknown
            return fit(config, callbacks=[_PostingCallbacks(post)], cancel=cancel)

        return self.compute.start(job, self.runner, lambda: self.runner.start(work))

    def install(self) -> Path | None:
        from karyostudio.models.manifest import user_model_dir

        if self.manifest is None:
            return None
        user_dir = user_model_dir()
        installed = install_model(self.manifest, user_dir)
        self._set_status(f"installed {installed.name} in {user_dir}")
        self.model_installed.emit(str(installed))
        return installed

    def _preset_changed(self, text: str) -> None:
        """Show what the preset is and how long it takes; its run folder follows unless edited."""
        from karyostudio.training.config import preset_names

        name = text.strip()
        if name in preset_names():
            info = preset_info(name)
            self.about.setText(f"{info.description}\nTime: {info.duration_text(has_gpu=self.compute.gpu_available())}")
        else:
            self.about.setText("a config file (YAML or JSON)" if name else "")
        if not self._out_dir_edited:
            self.out_dir.setText(str(user_training_dir() / (Path(name).stem if name else "run")))

    def _browse_corrections(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of reviewed labelme files")
        if folder:
            self.corrections.setText(folder)

    # --- job messages ------------------------------------------------------------------------
    def _busy(self, busy: bool) -> None:
        self.start_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress.setRange(0, 1)

    def _on_message(self, kind: str, payload: Any) -> None:
        if kind == "start":
            total = int(payload.get("total_steps") or 0)
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(int(payload.get("start_step") or 0))
        elif kind == "data":
            done, total, message = payload
            self._set_status(f"{message} {done}/{total}")
        elif kind == "step":
            step, loss = payload
            self.progress.setValue(min(step, self.progress.maximum()))
            self._steps.append(step)
            self._losses.append(loss)
            self.curve.setData(self._steps, self._losses)
        elif kind == "epoch":
            epoch, metrics = payload
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float))
            row = self.epochs.rowCount()
            self.epochs.insertRow(row)
            self.epochs.setItem(row, 0, QTableWidgetItem(str(epoch)))
            self.epochs.setItem(row, 1, QTableWidgetItem(shown))

    def _on_succeeded(self, result) -> None:
        self.manifest = result.manifest
        self.install_button.setEnabled(self.manifest is not None)
        where = f"model {self.manifest}" if self.manifest else f"checkpoint {result.best_checkpoint}"
        self._set_status(f"done: {result.steps} steps, {result.epochs} epochs in {result.elapsed_s / 60:.1f} min; {where}")

    def _set_status(self, text: str) -> None:
        self.status.setText(text)

    def shutdown(self) -> None:
        self.runner.shutdown()
