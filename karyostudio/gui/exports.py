"""File > Export: the current cell as labelme or COCO JSON; a case as one COCO file or a report.

The report is HTML (io.case_report) or PDF, printed from that HTML with QTextDocument and
QPdfWriter. Every file is written atomically; a failure is shown in a dialog and leaves any
previous file as it was. Case exports read the saved annotation files, so unsaved changes of
the open cell are not in them (the status bar says so).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QObject
from PySide6.QtGui import QPageLayout, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import QFileDialog, QInputDialog, QLineEdit, QMenu, QWidget

from karyostudio.gui.actions import Menus, _action
from karyostudio.gui.case.review import lab_targets
from karyostudio.gui.dialogs.busy import busy_cursor
from karyostudio.gui.dialogs.messages import show_error, show_warning
from karyostudio.gui.session_model import SessionModel
from karyostudio.gui.settings import app_settings
from karyostudio.gui.status_sink import StatusSink
from karyostudio.io.atomic import atomic_write_bytes, atomic_write_text
from karyostudio.io.case_report import CaseCell, case_report_html
from karyostudio.io.coco import write_coco
from karyostudio.io.errors import FormatError
from karyostudio.io.labelme import write_labelme
from karyostudio.workspace.case_scan import case_annotations

JSON_FILTER = "JSON (*.json)"
REPORT_FILTER = "HTML report (*.html);;PDF report (*.pdf)"
_REVIEWER_KEY = "case/reviewer"
_EXPORT_DIR_KEY = "files/export_dir"
_NOTES_SHOWN = 12


def html_to_pdf(html: str) -> bytes:
    """A PDF (A4, 15 mm margins) of an HTML page, as bytes."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    writer.setResolution(300)
    document = QTextDocument()
    document.setHtml(html)
    document.print_(writer)
    del writer  # ends the PDF (writes the trailer) before the buffer is read
    buffer.close()
    return bytes(data.data())


class OpenCase(Protocol):
    """The open case as exports read it (karyostudio.gui.case.controller.CaseController)."""

    @property
    def folder(self) -> Path | None: ...

    @property
    def cells(self) -> list[CaseCell]: ...

    def refresh(self) -> None:
        """Re-read the cells from the files."""

    def current_row(self) -> int | None:
        """The open document's row in the case, or None when it is no cell of it."""


class ExportController(QObject):
    def __init__(self, sessions: SessionModel, case: OpenCase, status: StatusSink, host: QWidget, menus: Menus):
        super().__init__(host)
        self.sessions = sessions
        self.case = case
        self.status = status
        self.host = host  # parent of the dialogs and the actions
        w = host
        self.cell_labelme_action = _action(w, "Cell as &labelme JSON…", tip="Export the open cell's outlines")
        self.cell_coco_action = _action(w, "Cell as &COCO JSON…", tip="Export the open cell's outlines as COCO")
        self.case_coco_action = _action(w, "Case as C&OCO JSON…", tip="Export every analysed cell as one COCO file")
        self.case_report_action = _action(w, "Case &report (HTML, PDF)…",
                                          tip="Write a report: every cell's count, karyotype and status, the tally, "
                                              "the modal number and the lab workflow")
        self.menu = QMenu("&Export", w)
        self.menu.setObjectName("menu_export")
        self.menu.addActions([self.cell_labelme_action, self.cell_coco_action])
        self.menu.addSeparator()
        self.menu.addActions([self.case_coco_action, self.case_report_action])
        menus.file.insertMenu(menus.file_end, self.menu)
        menus.file.insertSeparator(menus.file_end)
        self.cell_labelme_action.triggered.connect(lambda: self._ask_and_export("cell-labelme"))
        self.cell_coco_action.triggered.connect(lambda: self._ask_and_export("cell-coco"))
        self.case_coco_action.triggered.connect(lambda: self._ask_and_export("case-coco"))
        self.case_report_action.triggered.connect(self.report_dialog)

    # --- dialogs ---------------------------------------------------------------------------
    def _ask_and_export(self, kind: str) -> bool:
        session = self.sessions.session
        if kind.startswith("case") and self.case.folder is None:
            self.status.message("open a case folder first (File \u203a Open Folder)")
            return False
        if kind.startswith("cell") and session.image_path is None and not len(session.document):
            self.status.message("open an image first: there is nothing to export")
            return False
        name = self.case.folder.name if kind.startswith("case") and self.case.folder else self.sessions.session.key
        suffix = "_coco.json" if kind.endswith("coco") else ".json"
        path = self._ask_path("Export", f"{name}{suffix}", JSON_FILTER)
        if path is None:
            return False
        path = path if path.suffix.lower() == ".json" else path.with_name(path.name + ".json")
        return {"cell-labelme": self.export_cell_labelme, "cell-coco": self.export_cell_coco,
                "case-coco": self.export_case_coco}[kind](path)

    def report_dialog(self) -> bool:
        if self.case.folder is None:
            self.status.message("open a case folder first (File \u203a Open Folder)")
            return False
        path = self._ask_path("Case report", f"{self.case.folder.name}_report.html", REPORT_FILTER)
        if path is None:
            return False
        if path.suffix.lower() not in (".html", ".htm", ".pdf"):
            path = path.with_name(path.name + ".html")
        settings = app_settings()
        reviewer, ok = QInputDialog.getText(self.host, "Case report", "Reviewer (optional):",
                                            QLineEdit.EchoMode.Normal, str(settings.value(_REVIEWER_KEY, "")))
        if not ok:
            return False
        settings.setValue(_REVIEWER_KEY, reviewer.strip())
        return self.export_case_report(path, reviewer.strip() or None)

    def _ask_path(self, title: str, suggested: str, filters: str) -> Path | None:
        settings = app_settings()
        start = Path(str(settings.value(_EXPORT_DIR_KEY, str(self.case.folder or Path.home()))))
        chosen, _ = QFileDialog.getSaveFileName(self.host, title, str(start / suggested), filters)
        if not chosen:
            return None
        settings.setValue(_EXPORT_DIR_KEY, str(Path(chosen).absolute().parent))
        return Path(chosen)

    # --- exports (callable without dialogs) ------------------------------------------------
    def export_cell_labelme(self, path: Path) -> bool:
        session = self.sessions.session
        return self._write(path, lambda: write_labelme(path, session.to_annotations(),
                                                       image_data=session.embedded_image))

    def export_cell_coco(self, path: Path) -> bool:
        session = self.sessions.session
        notes: list[str] = []
        ok = self._write(path, lambda: notes.extend(write_coco(path, {session.key: session.to_annotations()})))
        if ok:
            self._notes(notes)
        return ok

    def export_case_coco(self, path: Path) -> bool:
        with busy_cursor():
            self.case.refresh()
            annotations, left_out = case_annotations(self.case.cells)
        if not annotations:
            show_warning(self.host, "Nothing to export", "No cell of this case has annotations yet.")
            return False
        notes: list[str] = []
        ok = self._write(path, lambda: notes.extend(write_coco(path, annotations)))
        if ok:
            self._notes(notes, left_out)
            self.status.message(f"exported {len(annotations)} of {len(self.case.cells)} cells to {path}"
                                       + self._unsaved_note(), 0)
        return ok

    def export_case_report(self, path: Path, reviewer: str | None = None,
                           date: datetime.date | None = None) -> bool:
        """Write the case report as HTML, or PDF when path ends in .pdf."""
        if self.case.folder is None:
            return False
        self.case.refresh()
        html = case_report_html(self.case.folder.name, self.case.cells,
                                date=(date or datetime.date.today()).isoformat(), reviewer=reviewer,
                                targets=lab_targets())
        if path.suffix.lower() == ".pdf":
            ok = self._write(path, lambda: atomic_write_bytes(path, html_to_pdf(html)))
        else:
            ok = self._write(path, lambda: atomic_write_text(path, html))
        if ok:
            self.status.message(f"wrote the case report {path}" + self._unsaved_note(), 0)
        return ok

    # --- helpers ---------------------------------------------------------------------------
    def _write(self, path: Path, write) -> bool:
        try:
            with busy_cursor():
                write()
        except (FormatError, OSError, ValueError) as exc:
            show_error(self.host, "Cannot export", f"{path} could not be written.\n\n{exc}")
            return False
        self.status.message(f"exported {path}")
        return True

    def _notes(self, notes: list[str], left_out: list[str] | None = None) -> None:
        lines = list(left_out or []) + list(notes)
        if lines:
            more = len(lines) - _NOTES_SHOWN
            show_warning(self.host, "Exported with omissions",
                         "Some outlines or cells are not in the export:\n\n" + "\n".join(lines[:_NOTES_SHOWN])
                         + (f"\n… and {more} more" if more > 0 else ""))

    def _unsaved_note(self) -> str:
        session = self.sessions.session
        if session.dirty and self.case.current_row() is not None:
            return f" (unsaved changes of {session.key} are not included: save first)"
        return ""
