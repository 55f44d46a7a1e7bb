"""The "Export karyogram" dialog: case and cell, reviewer name (remembered), karyotype shown, what to
include (ideograms, unplaced objects; both off by default, the choice remembered), file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, \
    QLabel, QLineEdit, QPushButton, QWidget

from karyostudio.gui.karyogram.export import EXPORT_FORMATS, ExportMetadata, ExportOptions
from karyostudio.gui.program_files import in_user_folder, is_shipped
from karyostudio.gui.settings import app_settings

REVIEWER_KEY = "karyogram/reviewer"
FOLDER_KEY = "karyogram/export_folder"
IDEOGRAMS_KEY = "karyogram/export_ideograms"
UNPLACED_KEY = "karyogram/export_unplaced"
FILE_FILTER = ";;".join(f"{label} (*{suffix})" for suffix, label in EXPORT_FORMATS.items())


class ExportDialog(QDialog):
    def __init__(self, case_id: str, karyotype: str, default_path: Path, parent: QWidget | None = None, *,
                 cell: str | None = None, counts: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Export karyogram")
        settings = app_settings()
        self.case_id = QLineEdit(case_id)
        self.cell = QLineEdit(cell or "")
        self.cell.setPlaceholderText("optional")
        self.counts = counts
        self.ideograms = QCheckBox("Ideograms beside the chromosomes")
        self.ideograms.setChecked(_flag(settings.value(IDEOGRAMS_KEY, False)))
        self.unplaced = QCheckBox("Unplaced objects (unnamed chromosomes, clusters) below the rows")
        self.unplaced.setChecked(_flag(settings.value(UNPLACED_KEY, False)))
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
        form.addRow("Case:", self.case_id)
        form.addRow("Cell:", self.cell)
        form.addRow("Karyotype:", QLabel(karyotype or "not determined"))
        form.addRow("Reviewer:", self.reviewer)
        form.addRow("Include:", self.ideograms)
        form.addRow("", self.unplaced)
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
        settings.setValue(IDEOGRAMS_KEY, self.ideograms.isChecked())
        settings.setValue(UNPLACED_KEY, self.unplaced.isChecked())
        settings.setValue(FOLDER_KEY, str(self.target().parent))
        super().accept()

    def target(self) -> Path:
        return Path(self.path.text().strip()).expanduser()

    def metadata(self) -> ExportMetadata:
        return ExportMetadata.today(self.case_id.text().strip(), self.karyotype, self.reviewer.text().strip(),
                                    cell=self.cell.text().strip(), counts=self.counts)

    def options(self) -> ExportOptions:
        return ExportOptions(ideograms=self.ideograms.isChecked(), include_unplaced=self.unplaced.isChecked())


def _flag(value) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def default_export_path(session_key: str, annotation_path: Path | None, image_path: Path | None,
                        case_folder: Path | None = None) -> Path:
    """<folder>/<key>_karyogram.png: a case cell's own folder (where the case counts its karyograms),
    else the last export folder, else the annotation's or image's folder."""
    folder = str(case_folder) if case_folder is not None else app_settings().value(FOLDER_KEY)
    if not folder:
        source = annotation_path or image_path
        folder = str(source.parent) if source is not None else str(Path.home())
    target = Path(str(folder)) / f"{session_key}_karyogram.png"
    return in_user_folder(target) if is_shipped(target) else target  # never into the program's files
