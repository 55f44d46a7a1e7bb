"""The "Export karyogram" dialog: case/cell id, reviewer name (remembered), karyotype shown, file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, \
    QLineEdit, QPushButton, QWidget

from karyostudio.gui.karyogram.export import EXPORT_FORMATS, ExportMetadata
from karyostudio.gui.settings import app_settings

REVIEWER_KEY = "karyogram/reviewer"
FOLDER_KEY = "karyogram/export_folder"
FILE_FILTER = ";;".join(f"{label} (*{suffix})" for suffix, label in EXPORT_FORMATS.items())


class ExportDialog(QDialog):
    def __init__(self, case_id: str, karyotype: str, default_path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export karyogram")
        settings = app_settings()
        self.case_id = QLineEdit(case_id)
        self.reviewer = QLineEdit(str(settings.value(REVIEWER_KEY, "") or ""))
        self.reviewer.setPlaceholderText("optional")
        self.karyotype = karyotype
        self.path = QLineEdit(str(default_path))
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Case / cell id:", self.case_id)
        form.addRow("Karyotype:", QLabel(karyotype or "not determined"))
        form.addRow("Reviewer:", self.reviewer)
        form.addRow("File (PNG, SVG, PDF):", path_row)
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00000;")
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getSaveFileName(self, "Export karyogram", self.path.text(), FILE_FILTER)
        if chosen:
            self.path.setText(chosen)

    def accept(self) -> None:
        suffix = Path(self.path.text().strip()).suffix.lower()
        if suffix not in EXPORT_FORMATS:
            self.error.setText(f"the file name must end in {', '.join(EXPORT_FORMATS)}")
            return
        if not self.case_id.text().strip():
            self.error.setText("give the case or cell id")
            return
        settings = app_settings()
        settings.setValue(REVIEWER_KEY, self.reviewer.text().strip())
        settings.setValue(FOLDER_KEY, str(self.target().parent))
        super().accept()

    def target(self) -> Path:
        return Path(self.path.text().strip()).expanduser()

    def metadata(self) -> ExportMetadata:
        return ExportMetadata.today(self.case_id.text().strip(), self.karyotype, self.reviewer.text().strip())


def default_export_path(session_key: str, annotation_path: Path | None, image_path: Path | None) -> Path:
    """<folder>/<key>_karyogram.png: the last export folder, else the annotation's or image's folder."""
    folder = app_settings().value(FOLDER_KEY)
    if not folder:
        source = annotation_path or image_path
        folder = str(source.parent) if source is not None else str(Path.home())
    return Path(str(folder)) / f"{session_key}_karyogram.png"
