"""Cases in the window: open a folder, move between its cells, keep the table and tally current,
and run the model on every cell not started yet.

The table is rebuilt from the files whenever they may have changed: after a save, after each
cell of a whole-case run, and when the folder changes on disk (a debounced directory watch;
every write in karyostudio is an atomic rename, which the watch sees).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QFileSystemWatcher, QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget

from karyostudio.gui.actions import _action, menu
from karyostudio.gui.case.cell_session import open_cell_session
from karyostudio.gui.case.drop import DropOpener
from karyostudio.gui.case.model import resolved_path
from karyostudio.gui.case.panel import CasePanel
from karyostudio.gui.case.review import CaseReview, lab_targets
from karyostudio.gui.case.run import CaseRunner, CaseRunOutcome
from karyostudio.gui.case.scan import CaseFolderError, CaseReader
from karyostudio.gui.dialogs.busy import busy_cursor
from karyostudio.gui.dialogs.messages import ask_yes_no, show_error, show_warning
from karyostudio.gui.exports import ExportController
from karyostudio.gui.model_control import parse_run_name
from karyostudio.gui.recent import RecentMenu, RecentPaths
from karyostudio.io.case_report import CaseCell, CellStatus

if TYPE_CHECKING:
    from karyostudio.gui.main_window import MainWindow

_REFRESH_DELAY_MS = 300
_LISTED = 12  # names listed in a dialog before "… and N more"


class CaseController(QObject):
    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.window = window
        self.folder: Path | None = None
        self.reader = CaseReader()
        self.panel = CasePanel()
        self.dock = QDockWidget("Case", window)
        self.dock.setObjectName("dock_case")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        self.dock.hide()  # a single image needs no case list: shown when a folder is opened
        self.recent = RecentPaths()
        self.runner = CaseRunner(window.models.loader, self)
        self._navigating = False  # opening a cell from the case: not a "recent" file of its own
        self._watcher = QFileSystemWatcher(self)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(_REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self._watcher.directoryChanged.connect(lambda _path: self._refresh_timer.start())
        self._create_actions()
        self.exports = ExportController(window, self)
        self.review = CaseReview(self)  # reject a cell, lab targets
        self.drops = DropOpener(window, self.open_any)
        self._connect()

    # --- composition -----------------------------------------------------------------------
    def _create_actions(self) -> None:
        w = self.window
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
        self.recent_menu = RecentMenu(self.recent, self.open_any, self.window.status.message, w)
        file_menu = menu(w, "file")  # after Open…: Open Folder…, Open Recent
        file_menu.insertAction(w.act.save, self.open_folder_action)
        file_menu.insertMenu(w.act.save, self.recent_menu)
        file_menu.insertSeparator(w.act.save)
        view = menu(w, "view")
        view.addSeparator()
        view.addActions([self.next_cell_action, self.previous_cell_action, self.show_case_action])
        menu(w, "analysis").addAction(self.run_case_action)

    def _connect(self) -> None:
        w = self.window
        self.open_folder_action.triggered.connect(self.open_folder_dialog)
        self.next_cell_action.triggered.connect(lambda: self.step(+1))
        self.previous_cell_action.triggered.connect(lambda: self.step(-1))
        self.run_case_action.triggered.connect(self.run_case)
        self.panel.cell_activated.connect(self.open_cell)
        w.files.opened_listeners.append(self._opened)
        w.files.saved_listeners.append(self._saved)
        w.status.cancel_requested.connect(self.cancel_run)
        w.act.cancel_run.triggered.connect(self.cancel_run)
        self.runner.busy_changed.connect(self._busy_changed)
        self.runner.progress.connect(w.status.set_progress)
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
        folder = QFileDialog.getExistingDirectory(self.window, "Open a case folder", start)
        return bool(folder) and self.open_case(Path(folder))

    def open_any(self, path: Path) -> bool:
        """Open a file (image or annotation) or a folder (as a case), asking about unsaved changes."""
        path = Path(path)
        if path.is_dir():
            return self.open_case(path)
        return self.window.files.maybe_save() and self.window.files.open_path(path)

    def open_case(self, folder: Path) -> bool:
        """Show the folder's cells and open the first one not yet reviewed."""
        folder, reader = Path(folder).absolute(), CaseReader()
        try:
            with busy_cursor():
                cells = reader.scan(folder)
        except CaseFolderError as exc:
            show_error(self.window, "Cannot open case", f"The folder could not be opened as a case.\n\n{exc}")
            return False
        if not cells:
            show_warning(self.window, "No images", f"{folder} holds no images (PNG, JPEG, BMP or TIFF).")
            return False
        if not self.window.files.maybe_save():
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
            show_warning(self.window, "Unreadable annotation files",
                         f"{len(unreadable)} annotation file(s) of this case cannot be read; those cells are "
                         "left as they are:\n\n" + _listing(f"{c.name}: {c.error}" for c in unreadable))
        first = next((row for row, c in enumerate(cells) if c.status != CellStatus.REVIEWED), 0)
        self.open_cell(first, ask=False)
        self.window.status.message(f"case {self.folder.name}: {len(cells)} cells")
        return True

    def refresh(self) -> None:
        """Re-read the case from the files."""
        self._refresh_timer.stop()
        if self.folder is None:
            return
        try:
            cells = self.reader.scan(self.folder)
        except CaseFolderError as exc:
            self.window.status.message(f"the case folder cannot be read: {exc}", 0)
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
        image_path = self.window.session.image_path
        self.panel.model.set_current(image_path)
        self.panel.select_row(self.panel.model.row_of(image_path))

    # --- moving between cells --------------------------------------------------------------
    def current_row(self) -> int | None:
        return self.panel.model.row_of(self.window.session.image_path)

    def open_cell(self, row: int, ask: bool = True) -> bool:
        """Open a cell (its annotation file when it has one), asking about unsaved changes first."""
        if not 0 <= row < len(self.cells):
            return False
        cell = self.cells[row]
        if ask and not self.window.files.maybe_save():
            return False
        # An unreadable annotation file is opened too, so its error is shown and Save cannot replace it.
        self._navigating = True
        try:
            if cell.annotation_path is None:
                return self.window.files.open_path(cell.image_path)
            return self.window.files.open_path(
                cell.annotation_path, reader=lambda path: open_cell_session(path, cell.image_path))
        finally:
            self._navigating = False

    def step(self, delta: int) -> bool:
        """Open the next (delta=+1) or previous (-1) cell."""
        if not self.cells:
            self.window.status.message("open a case folder first (File \u203a Open Folder)")
            return False
        row = self.current_row()
        target = (0 if delta > 0 else len(self.cells) - 1) if row is None else row + delta
        if not 0 <= target < len(self.cells):
            self.window.status.message("this is the last cell" if delta > 0 else "this is the first cell")
            return False
        return self.open_cell(target)

    def _opened(self, path: Path) -> None:
        if not self._navigating:
            self.recent.add(path)
        self._mark_current()
        self.review.sync()
        self.window.session.history.subscribe(self.review.sync)

    def _saved(self, path: Path) -> None:
        if self.folder is not None:
            self.refresh_cell(path)

    # --- whole-case run --------------------------------------------------------------------
    def run_case(self) -> bool:
        """Run the chosen model on every not-started cell; False when the run cannot start."""
        w = self.window
        if self.folder is None:
            w.status.message("open a case folder first (File \u203a Open Folder)")
            return False
        if self.runner.running or w.models.runner.running:
            w.status.message("a model is already running")
            return False
        name = w.models.run_name
        if name is None:
            w.status.message("no model is available")
            return False
        self.refresh()
        todo = [c for c in self.cells if c.status == CellStatus.NOT_STARTED]
        current = self.current_row()
        if current is not None and w.session.dirty:  # its unsaved outlines must not be replaced
            todo = [c for c in todo if c is not self.cells[current]]
        if not todo:
            w.status.message("every cell of the case already has outlines (or unsaved changes)")
            return False
        self.runner.start(name, [c.image_path for c in todo])
        w.status.message(f"running {name} on {len(todo)} cells…", 0)
        return True

    def cancel_run(self) -> None:
        if self.runner.running:
            self.runner.cancel()
            self.window.status.message("cancelling…", 0)

    def shutdown(self) -> None:
        self.runner.shutdown()

    def _busy_changed(self, busy: bool) -> None:
        w = self.window
        w.status.show_running(busy)
        w.act.run_model.setEnabled(not busy)
        w.act.cancel_run.setEnabled(busy)
        w.models.combo.setEnabled(not busy)
        self._update_actions()
        if not busy:
            w.status.clearMessage()

    def _update_actions(self) -> None:
        self.run_case_action.setEnabled(self.folder is not None and not self.runner.running)
        has_cells = bool(self.cells)
        self.next_cell_action.setEnabled(has_cells)
        self.previous_cell_action.setEnabled(has_cells)

    def _run_finished(self, outcome: CaseRunOutcome) -> None:
        self.refresh()
        w = self.window
        if self._rerun_on_cpu(outcome):
            return
        if outcome.error is not None:
            show_error(w, "Model run failed", f"The model {outcome.model_name} could not be loaded; no cell "
                                              f"was analysed.\n\n{outcome.error}")
            return
        self._reload_current_if_written(outcome)
        done = len(outcome.written)
        text = f"{outcome.model_name}: {done} of {outcome.total} cells analysed"
        if outcome.cancelled:
            text += " (cancelled; the remaining cells are untouched)"
        if outcome.skipped:
            text += f"; {len(outcome.skipped)} skipped (an annotation file appeared)"
        w.status.message(text, 0)
        if outcome.failures:
            show_warning(w, "Some cells failed",
                         f"{len(outcome.failures)} cell(s) could not be analysed; the others were:\n\n"
                         + _listing(f"{name}: {why}" for name, why in outcome.failures))

    def _rerun_on_cpu(self, outcome: CaseRunOutcome) -> bool:
        """After a GPU failure, offer the cells still to do to the CPU; True when that run started."""
        why = outcome.gpu_failure
        if why is None or outcome.cancelled or parse_run_name(outcome.model_name)[2] == "cpu":
            return False
        self._reload_current_if_written(outcome)
        question = (f"The model could not run on the GPU:\n\n{why.splitlines()[0]}\n\n"
                    f"{len(outcome.written)} of {outcome.total} cells were analysed (their files are written). "
                    "Analyse the remaining cells on the CPU?")
        if not ask_yes_no(self.window, "GPU run failed", question):
            return False
        self.window.models.set_device("cpu")
        return self.run_case()

    def _reload_current_if_written(self, outcome: CaseRunOutcome) -> None:
        """Show the new outlines of the open cell, unless it was edited meanwhile."""
        row = self.current_row()
        session = self.window.session
        if row is None or session.dirty or session.annotation_path is not None:
            return
        cell = self.cells[row]
        if cell.name in outcome.written and cell.annotation_path is not None:
            self.open_cell(row, ask=False)


def _listing(lines) -> str:
    lines = list(lines)
    more = len(lines) - _LISTED
    return "\n".join(lines[:_LISTED]) + (f"\n… and {more} more" if more > 0 else "")
