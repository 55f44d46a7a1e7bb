"""The evaluation panel: measure a model on an annotated folder, inside the app.

Pick a model and ground truth (a labelme folder, a COCO file or a Pascal VOC tree: whatever
karyostudio.io.annotation_set reads). The job runs the model on every ground-truth image that
has its image file, then karyostudio.metrics.evaluate_annotations (the same numbers as
``karyostudio evaluate``). Headline numbers go into a table, per-class AP into a bar chart
(pyqtgraph) and the full text report below. Runs on a JobThread with progress and Cancel,
started through the compute service (its device and predictor cache, and only while no other
job holds it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from karyostudio.core.annotated_image import AnnotationSet, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.progress import CancelToken, check
from karyostudio.gui.compute import ComputeService
from karyostudio.gui.jobs import JobRunner, Post


def evaluate_model(predictor, gt: AnnotationSet, post: Post, cancel: CancelToken, *,
                   score_threshold: float = 0.5) -> dict:
    """Predict every GT image that has an image file, then evaluate; posts ("progress", (k, n, text))."""
    from karyostudio.io.images import read_image
    from karyostudio.metrics.evaluate import evaluate_annotations

    usable = {k: a for k, a in gt.items() if a.image_path is not None and Path(a.image_path).is_file()}
    if not usable:
        raise ValueError("none of the ground-truth images could be found next to the annotations")
    pred: AnnotationSet = {}
    for done, (key, truth) in enumerate(sorted(usable.items())):
        check(cancel)
        post("progress", (done, len(usable), f"predicting {key}"))
        image = read_image(truth.image_path)
        instances = predictor.predict(image, cancel=cancel)
        pred[key] = ImageAnnotations(key=key, instances=list(instances), image_path=truth.image_path,
                                     image_size=(image.shape[1], image.shape[0]))
    post("progress", (len(usable), len(usable), "scoring"))
    result = evaluate_annotations({k: gt[k] for k in usable}, pred, score_threshold=score_threshold,
                                  cancel=cancel)
    result["skipped_without_image"] = len(gt) - len(usable)
    return result


def headline(result: dict) -> list[tuple[str, str]]:
    """The numbers a reviewer looks at first, as (name, value) rows."""
    def pct(value: Any) -> str:
        return "n/a" if value is None else f"{100 * float(value):.1f}%"

    detection = result.get("detection") or {}
    rows = [
        ("images evaluated", str(result["images"]["evaluated"])),
        ("box mAP@50", pct(result["box_ap"].get("mean"))),
        ("box mAP@50, class-agnostic", pct(result.get("box_ap_class_agnostic"))),
        ("mask mAP@50", pct((result.get("mask_ap") or {}).get("mean"))),
        ("precision (skew-IoU)", pct(detection.get("precision"))),
        ("recall (skew-IoU)", pct(detection.get("recall"))),
        ("F1 (skew-IoU)", pct(detection.get("f1"))),
    ]
    return rows


class EvaluationPanel(QWidget):
    def __init__(self, model_names: Callable[[], list[str]], compute: ComputeService,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._model_names = model_names
        self.compute = compute
        self.runner = JobRunner(self)
        self.model = QComboBox()
        self.gt = QLineEdit()
        self.gt.setPlaceholderText("labelme folder, COCO file or VOC folder")
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.gt, 1)
        row.addWidget(browse)
        self.start_button = QPushButton("Evaluate")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel("idle")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["measure", "value"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.chart = pg.PlotWidget()
        self.chart.setLabel("left", "AP@50")
        self.chart.setYRange(0, 1)
        self.chart.setMinimumHeight(120)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        form = QFormLayout()
        form.addRow("Model", self.model)
        form.addRow("Ground truth", row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.report, 2)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.runner.busy_changed.connect(self._busy)
        self.runner.message.connect(self._on_message)
        self.runner.succeeded.connect(self._show)
        self.runner.failed.connect(lambda error: self.status.setText(f"evaluation failed: {error.message}"))
        self.runner.cancelled.connect(lambda: self.status.setText("evaluation cancelled"))
        self.result: dict | None = None
        self.refresh_models()

    def refresh_models(self) -> None:
        current = self.model.currentText()
        self.model.clear()
        self.model.addItems(self._model_names())
        if current:
            self.model.setCurrentText(current)

    def showEvent(self, event) -> None:  # the model list may have changed while hidden
        self.refresh_models()
        super().showEvent(event)

    def start(self) -> bool:
        from karyostudio.io.annotation_set import load_annotation_set
        from karyostudio.io.errors import FormatError

        if self.runner.running:
            return False
        path, model_name = self.gt.text().strip(), self.model.currentText()
        if not path or not model_name:
            self.status.setText("choose a model and the ground truth first")
            return False
        request = self.compute.request(model_name)
        job = f"the evaluation of {request.label}"
        refusal = self.compute.refusal(job)
        if refusal is not None:
            self.status.setText(refusal)
            return False
        from karyostudio.gui.dialogs.messages import show_reader_warnings
        from karyostudio.io.reader_warnings import reader_warnings, require_instances

        try:
            gt = load_annotation_set(path)
            show_reader_warnings(self, f"ground truth {Path(path).name}", reader_warnings(gt))
            require_instances(gt, path, "ground truth")
        except (FormatError, OSError) as exc:
            self.status.setText(f"cannot read the ground truth: {exc}")
            return False
        self.result = None
        self.status.setText(f"evaluating {request.label} on {len(gt)} image(s)")
        predictors = self.compute.predictors

        def work(post: Post, cancel: CancelToken) -> dict:
            post("progress", (0, 0, f"loading model {request.label}"))
            return evaluate_model(predictors(request), gt, post, cancel)

        return self.compute.start(job, self.runner, lambda: self.runner.start(work))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Ground-truth folder")
        if folder:
            self.gt.setText(folder)

    def _busy(self, busy: bool) -> None:
        self.start_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _on_message(self, kind: str, payload: Any) -> None:
        if kind == "progress":
            done, total, text = payload
            self.progress.setRange(0, max(total, 0))
            self.progress.setValue(done)
            self.status.setText(text)

    def _show(self, result: dict) -> None:
        from karyostudio.metrics.report import format_report

        self.result = result
        rows = headline(result)
        self.table.setRowCount(len(rows))
        for r, (name, value) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            self.table.setItem(r, 1, QTableWidgetItem(value))
        per_class = result["box_ap"].get("per_class") or {}
        values = [per_class.get(name) for name in CLASS_NAMES]
        heights = np.array([np.nan if v is None else float(v) for v in values])
        self.chart.clear()
        self.chart.addItem(pg.BarGraphItem(x=np.arange(len(CLASS_NAMES)), height=np.nan_to_num(heights),
                                           width=0.7))
        self.chart.getAxis("bottom").setTicks([list(enumerate(CLASS_NAMES))])
        self.report.setPlainText(format_report(result))
        skipped = result.get("skipped_without_image", 0)
        self.status.setText("done" + (f"; {skipped} image(s) without an image file were left out" if skipped else ""))

    def shutdown(self) -> None:
        self.runner.shutdown()
