"""Cases in the window: open a folder, move between its cells, keep the table and tally current,
and run the model on every cell not started yet.

The table is rebuilt from the files whenever they may have changed: after a save, after each
cell of a whole-case run, and when the folder changes on disk (a debounced directory watch;
every write in karyostudio is an atomic rename, which the watch sees).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer
from PySide6.QtWidgets import QDockWidget, QWidget

from karyostudio.gui.actions import Menus, _action
from karyostudio.gui.case.cell_session import open_cell_session
from karyostudio.gui.case.drop import DropOpener
from karyostudio.gui.case.model import resolved_path
from karyostudio.gui.case.panel import CasePanel
from karyostudio.gui.case.review import CaseReview, lab_targets
from karyostudio.gui.case.run import CaseRunner, CaseRunOutcome
from karyostudio.gui.compute import ComputeService
from karyostudio.gui.dialogs.busy import busy_cursor
from karyostudio.gui.dialogs.messages import ask_yes_no, show_error, show_warning
from karyostudio.gui.exports import ExportController
from karyostudio.gui.recent import RecentMenu, RecentPaths
from karyostudio.gui.run_request import CPU, RunRequest
from karyostudio.gui.session_model import SessionModel
from karyostudio.gui.status_sink import StatusSink
from karyostudio.io.case_report import CaseCell, CellStatus
from karyostudio.workspace.case_scan import CaseFolderError, CaseReader
from karyostudio.workspace.session import Session

_REFRESH_DELAY_MS = 300
_LISTED = 12  # names listed in a dialog before "… and N more"


class DocumentFiles(Protocol):
    """The file operations a case needs (karyostudio.gui.files.FileController has them)."""

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; True when the open document may be replaced."""

    def open_path(self, path: Path, reader: Callable[[Path], Session] | None = None) -> bool: ...

    def save_to(self, path: Path) -> bool: ...


class CaseController(QObject):
    """The case dock and its actions. ``file_opened`` / ``file_saved`` are to be called after every
    open and save of a document (the table marks the open cell and re-reads a saved one)."""

    def __init__(self, *, sessions: SessionModel, compute: ComputeService, files: DocumentFiles,
                 run_request: Callable[[], RunRequest | None], status: StatusSink, host: QWidget, menus: Menus):
        super().__init__(host)
        self.sessions = sessions
        self.compute = compute
        self.files = files
        self._run_request = run_request  # the model Run model would run, on the chosen device
        self.status = status
        self.host = host  # parent of dialogs and actions; drops onto it open files and folders
        self.folder: Path | None = None
        self.reader = CaseReader()
        self.panel = CasePanel()
        self.dock = QDockWidget("Case", host)  # the window places it (left)
        self.dock.setObjectName("dock_case")
        self.dock.setWidget(self.panel)
        self.dock.hide()  # a single image needs no case list: shown when a folder is opened
        self.recent = RecentPaths()
        self.runner = CaseRunner(compute.predictors, self)
        self._navigating = False  # opening a cell from the case: not a "recent" file of its own
        self._watcher = QFileSystemWatcher(self)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(_REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self._watcher.directoryChanged.connect(lambda _path: self._refresh_timer.start())
        self._create_actions(menus)
        self.exports = ExportController(sessions, self, status, host, menus)
        self.review = CaseReview(sessions, status, files.save_to, lambda: self.current_row() is not None,
                                 self.refresh, host, menus)  # reject a cell, lab targets
        self.drops = DropOpener(host, self.open_any)
        self._connect()

    # --- composition -----------------------------------------------------------------------
    def _create_actions(self, menus: Menus) -> None:
        w = self.host
        self.open_folder_action = _action(w, "Open &Folder (case)…", "Ctrl+Shift+O",
                                          tip="Open a folder of metaphase images as a case")
        self.next_cell_action = _action(w, "Next &cell", "PgDown", tip="Open the next cell of the case")
        self.previous_cell_action = _action(w, "Pre&vious cell", "PgUp", tip="Open the previous cell of the case")
        self.run_case_action = _action(w, "Run model on whole &case", "Ctrl+Shift+R",
                                       tip="Run the chosen model on every cell not started yet")
        self.show_case_action = self.dock.toggleViewAction()
        self.show_case_action.setText("&Case panel")
        w.addActions([self.open_folder_action, self.next_cell_action, self.previous_cell_action,
                      self.run_case_action])
        self.recent_menu = RecentMenu(self.recent, self.open_any, self.status.message, w)
        file_menu = menus.file  # after Open…: Open Folder…, Open Recent
        file_menu.insertAction(menus.file_open_end, self.open_folder_action)
        file_menu.insertMenu(menus.file_open_end, self.recent_menu)
        file_menu.insertSeparator(menus.file_open_end)
        menus.view.addSeparator()
        menus.view.addActions([self.next_cell_action, self.previous_cell_action, self.show_case_action])
        menus.analysis.addAction(self.run_case_action)

    def _connect(self) -> None:
        self.open_folder_action.triggered.connect(self.open_folder_dialog)
        self.next_cell_action.triggered.connect(lambda: self.step(+1))
        self.previous_cell_action.triggered.connect(lambda: self.step(-1))
        self.run_case_action.triggered.connect(self.run_case)
        self.panel.cell_activated.connect(self.open_cell)
        self.sessions.history_changed.connect(self.review.sync)
        self.runner.busy_changed.connect(lambda _busy: self._update_actions())
        self.runner.progress.connect(self.status.set_progress)
        self.runner.cell_written.connect(lambda path: self.refresh_cell(Path(path)))
        self.runner.finished.connect(self._run_finished)
        self._update_actions()

    # --- the case --------------------------------------------------------------------------
    @property
    def cells(self) -> list[CaseCell]:
        return self.panel.model.cells

    def open_folder_dialog(self) -> bool:
        from PySide6.QtWidgets import QFileDialog

        start = str(self.folder.parent if self.folder is not None else Path.home())
        folder = QFileDialog.getExistingDirectory(self.host, "Open a case folder", start)
        return bool(folder) and self.open_case(Path(folder))

    def open_any(self, path: Path) -> bool:
        """Open a file (image or annotation) or a folder (as a case), asking about unsaved changes."""
        path = Path(path)
        if path.is_dir():
            return self.open_case(path)
        return self.files.maybe_save() and self.files.open_path(path)

    def open_case(self, folder: Path) -> bool:
        """Show the folder's cells and open the first one not yet reviewed."""
        folder, reader = Path(folder).absolute(), CaseReader()
        try:
            with busy_cursor():
                cells = reader.scan(folder)
        except CaseFolderError as exc:
            show_error(self.host, "Cannot open case", f"The folder could not be opened as a case.\n\n{exc}")
            return False
        if not cells:
            show_warning(self.host, "No images", f"{folder} holds no images (PNG, JPEG, BMP or TIFF).")
            return False
        if not self.files.maybe_save():
            return False
        if self.folder is not None:
            self._watcher.removePath(str(self.folder))
        self.folder, self.reader = folder, reader
        self._watcher.addPath(str(self.folder))
        self.recent.add(self.folder)
        self._show(cells)
        self.dock.show()
        self.dock.raise_()
        unreadable = [c for c in cells if c.status == CellStatus.UNREADABLE]
        if unreadable:
            show_warning(self.host, "Unreadable annotation files",
                         f"{len(unreadable)} annotation file(s) of this case cannot be read; those cells are "
                         "left as they are:\n\n" + _listing(f"{c.name}: {c.error}" for c in unreadable))
        first = next((row for row, c in enumerate(cells) if c.status != CellStatus.REVIEWED), 0)
        self.open_cell(first, ask=False)
        self.status.message(f"case {self.folder.name}: {len(cells)} cells")
        return True

    def refresh(self) -> None:
        """Re-read the case from the files."""
        self._refresh_timer.stop()
        if self.folder is None:
            return
        try:
            cells = self.reader.scan(self.folder)
        except CaseFolderError as exc:
            self.status.message(f"the case folder cannot be read: {exc}", 0)
            cells = []
        self._show(cells)

    def refresh_cell(self, changed: Path) -> None:
        """Re-read the one cell an annotation or image file belongs to (the tally follows)."""
        changed_key = changed.stem
        rows = [r for r, c in enumerate(self.cells) if c.name == changed_key
                and resolved_path(c.image_path.parent) == resolved_path(changed.parent)]
        if not rows:
            self.refresh()
            return
        cells = list(self.cells)
        for row in rows:
            cells[row] = self.reader.read(cells[row].image_path)
        self._show(cells)

    def _show(self, cells: list[CaseCell]) -> None:
        self.panel.show_case(self.folder.name if self.folder else None, cells, lab_targets())
        self._mark_current()
        self._update_actions()

    def _mark_current(self) -> None:
        image_path = self.sessions.session.image_path
        self.panel.model.set_current(image_path)
        self.panel.select_row(self.panel.model.row_of(image_path))

    # --- moving between cells --------------------------------------------------------------
    def current_row(self) -> int | None:
        return self.panel.model.row_of(self.sessions.session.image_path)

    def open_cell(self, row: int, ask: bool = True) -> bool:
        """Open a cell (its annotation file when it has one), asking about unsaved changes first."""
        if not 0 <= row < len(self.cells):
            return False
        cell = self.cells[row]
        if ask and not self.files.maybe_save():
            return False
        # An unreadable annotation file is opened too, so its error is shown and Save cannot replace it.
        self._navigating = True
        try:
            if cell.annotation_path is None:
                return self.files.open_path(cell.image_path)
            return self.files.open_path(
                cell.annotation_path, reader=lambda path: open_cell_session(path, cell.image_path))
        finally:
            self._navigating = False

    def step(self, delta: int) -> bool:
        """Open the next (delta=+1) or previous (-1) cell."""
        if not self.cells:
            self.status.message("open a case folder first (File \u203a Open Folder)")
            return False
        row = self.current_row()
        target = (0 if delta > 0 else len(self.cells) - 1) if row is None else row + delta
        if not 0 <= target < len(self.cells):
            self.status.message("this is the last cell" if delta > 0 else "this is the first cell")
            return False
        return self.open_cell(target)

    def file_opened(self, path: Path) -> None:
        if not self._navigating:
            self.recent.add(path)
        self._mark_current()

    def file_saved(self, path: Path) -> None:
        if self.folder is not None:
            self.refresh_cell(path)

    # --- whole-case run --------------------------------------------------------------------
    def run_case(self) -> bool:
        """Run the chosen model on every not-started cell; False when the run cannot start."""
        if self.folder is None:
            self.status.message("open a case folder first (File \u203a Open Folder)")
            return False
        request = self._run_request()
        if request is None:
            self.status.message("no model is available")
            return False
        job = f"the whole-case run {request.label}"
        refusal = self.compute.refusal(job)
        if refusal is not None:
            self.status.message(refusal)
            return False
        self.refresh()
        todo = [c for c in self.cells if c.status == CellStatus.NOT_STARTED]
        current = self.current_row()
        if current is not None and self.sessions.session.dirty:  # its unsaved outlines must not be replaced
            todo = [c for c in todo if c is not self.cells[current]]
        if not todo:
            self.status.message("every cell of the case already has outlines (or unsaved changes)")
            return False
        images = [c.image_path for c in todo]
        if not self.compute.start(job, self.runner, lambda: self.runner.start(request, images)):
            return False
        self.status.message(f"running {request.label} on {len(todo)} cells…", 0)
        return True

    def cancel_run(self) -> None:
        if self.runner.running:
            self.runner.cancel()
            self.status.message("cancelling…", 0)

    def shutdown(self) -> None:
        self.runner.shutdown()

    def _update_actions(self) -> None:
        self.run_case_action.setEnabled(self.folder is not None and not self.runner.running)
        has_cells = bool(self.cells)
        self.next_cell_action.setEnabled(has_cells)
        self.previous_cell_action.setEnabled(has_cells)

    def _run_finished(self, outcome: CaseRunOutcome) -> None:
        self.refresh()
        if self._rerun_on_cpu(outcome):
            return
        label = outcome.request.label
        if outcome.error is not None:
            show_error(self.host, "Model run failed", f"The model {label} could not be loaded; no cell "
                                                      f"was analysed.\n\n{outcome.error.message}")
            return
        self._reload_current_if_written(outcome)
        done = len(outcome.written)
        text = f"{label}: {done} of {outcome.total} cells analysed"
        if outcome.cancelled:
            text += " (cancelled; the remaining cells are untouched)"
        if outcome.skipped:
            text += f"; {len(outcome.skipped)} skipped (an annotation file appeared)"
        self.status.message(text, 0)
        if outcome.failures:
            show_warning(self.host, "Some cells failed",
                         f"{len(outcome.failures)} cell(s) could not be analysed; the others were:\n\n"
                         + _listing(f"{name}: {why.message}" for name, why in outcome.failures))

    def _rerun_on_cpu(self, outcome: CaseRunOutcome) -> bool:
        """After a GPU failure, offer the cells still to do to the CPU; True when that run started."""
        why = outcome.gpu_failure
        if why is None or outcome.cancelled or outcome.request.device == CPU:
            return False
        self._reload_current_if_written(outcome)
        question = (f"The model could not run on the GPU:\n\n{why.summary}\n\n"
                    f"{len(outcome.written)} of {outcome.total} cells were analysed (their files are written). "
                    "Analyse the remaining cells on the CPU?")
        if not ask_yes_no(self.host, "GPU run failed", question):
            return False
        self.compute.set_device(CPU)
        return self.run_case()

    def _reload_current_if_written(self, outcome: CaseRunOutcome) -> None:
        """Show the new outlines of the open cell, unless it was edited meanwhile."""
        row = self.current_row()
        session = self.sessions.session
        if row is None or session.dirty or session.annotation_path is not None:
            return
        cell = self.cells[row]
        if cell.name in outcome.written and cell.annotation_path is not None:
            self.open_cell(row, ask=False)


def _listing(lines) -> str:
    lines = list(lines)
    more = len(lines) - _LISTED
    return "\n".join(lines[:_LISTED]) + (f"\n… and {more} more" if more > 0 else "")
