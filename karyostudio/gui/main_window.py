"""The main window: builds the services, canvas, panels, actions and controllers, and wires them.

The services are shared objects that controllers are given: session_model.SessionModel (the
session being edited, and its changes as signals), compute.ComputeService (the device, the
predictor cache and the one-job gate) and the status bar as a status_sink.StatusSink. Controllers
never see the window: each gets those services, the widgets it works with, and callables for
the operations of others (open a file, may the document be replaced?). What each part does
lives in its module: files.FileController (open/save/recovery), model_control.ModelController
(model runs), case/ (folders of cells), karyogram/, edit_tools, model_lab, editing.Editor
(commands), label_keys (class keys), canvas/ (view, scene, tools), panels/.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QPoint, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolBar, QWidget

from karyostudio.gui.actions import build_menus, context_menu, create_actions
from karyostudio.gui.autosave import AUTOSAVE_DELAY_MS, AUTOSAVE_MAX_WAIT_MS, Autosaver
from karyostudio.gui.canvas.scene import MetaphaseScene
from karyostudio.gui.canvas.tools import DrawPolygonTool, SelectTool
from karyostudio.gui.canvas.view import MetaphaseView
from karyostudio.gui.case.controller import CaseController
from karyostudio.gui.compute import ComputeService
from karyostudio.gui.device_actions import device_actions
from karyostudio.gui.dialogs.messages import show_warning
from karyostudio.gui.dialogs.shortcuts import ShortcutsDialog
from karyostudio.gui.edit_tools import install_edit_tools
from karyostudio.gui.editing import Editor
from karyostudio.gui.files import FileController
from karyostudio.gui.karyogram.controller import KaryogramController
from karyostudio.gui.karyogram.pane import install_beside
from karyostudio.gui.label_keys import LabelKeyEntry, LabelKeyFilter
from karyostudio.gui.model_control import ModelController, ModelLister, list_models
from karyostudio.gui.model_lab import ModelLab
from karyostudio.gui.panels.display import DisplayPanel
from karyostudio.gui.panels.instances import InstancePanel
from karyostudio.gui.panels.status import StatusBar
from karyostudio.gui.predictors import PredictorLoader, default_loader
from karyostudio.gui.selection import Selection
from karyostudio.gui.session_model import SessionModel
from karyostudio.gui.settings import app_settings
from karyostudio.workspace.session import Session

_GEOMETRY_KEY, _STATE_KEY = "window/geometry", "window/state"


class MainWindow(QMainWindow):
    def __init__(self, *, predictor_loader: PredictorLoader = default_loader,
                 model_lister: ModelLister = list_models, recovery_directory: Path | None = None,
                 autosave_delay_ms: int = AUTOSAVE_DELAY_MS, autosave_max_wait_ms: int = AUTOSAVE_MAX_WAIT_MS):
        super().__init__()
        self._force_close = False
        self.session_model = SessionModel(self)
        self.compute = ComputeService(predictor_loader, self)
        self.selection = Selection(self)
        self.scene = MetaphaseScene(self.selection, self)
        self.view = MetaphaseView(self.scene)
        self.setCentralWidget(self.view)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.instance_panel = InstancePanel(self.selection)
        self.display_panel = DisplayPanel()
        docks = [self._dock("Outlines", self.instance_panel), self._dock("Display", self.display_panel)]
        self.resizeDocks(docks, [380, 380], Qt.Orientation.Horizontal)
        self.act = create_actions(self)
        self.menus = build_menus(self, self.act, self.set_label)
        self.editor = Editor(lambda: self.session_model.session, self.selection)
        self.autosaver = Autosaver(recovery_directory, autosave_delay_ms, self, max_wait_ms=autosave_max_wait_ms)
        self.files = FileController(self.session_model, self.autosaver, self.status, self)
        self.models = ModelController(self.session_model, self.compute, self.selection, self.status, model_lister,
                                      self)
        self.label_keys = LabelKeyEntry(parent=self)
        self._key_filter = LabelKeyFilter(self.label_keys, self)
        self.select_tool = SelectTool(self.view, self.editor.edit_vertices)
        self.draw_tool = DrawPolygonTool(self.view, self.editor.add_polygon, self.act.select_tool.trigger)
        self._panels_menu = self.menus.view.addMenu("&Panels")  # every dock, so a closed one comes back
        self.lab = ModelLab(self.compute, self.models.installed_names, self.models.refresh, self.status, self,
                            self.menus)  # training and evaluation docks
        for dock in self.lab.docks:
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(*self.lab.docks)
        analysis = self.menus.analysis
        analysis.addAction(self.models.split_action)
        analysis.addSeparator()
        analysis.addActions(device_actions(self.compute, self).actions())
        # brush, split, GrabCut, merge, vertex insert/delete
        self.edit_tools = install_edit_tools(self, self.menus, self.view, self.editor, self.select_tool,
                                             self.act.select_tool, self.status.message)
        self._build_toolbar()
        self._connect()
        self.case = CaseController(sessions=self.session_model, compute=self.compute, files=self.files,
                                   run_request=lambda: self.models.run_request, status=self.status, host=self,
                                   menus=self.menus)  # case dock, Open Folder/Recent, Export, drops
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.case.dock)
        self._connect_case()
        self.karyogram = KaryogramController(  # karyogram pane beside the canvas, flips, karyotype, export
            sessions=self.session_model, selection=self.selection, canvas=self.view,
            instance_table=self.instance_panel.table, label_keys=self.label_keys, set_label=self.set_label,
            save_recovery=self.autosaver.flush, case_name=self._case_name,
            place_pane=lambda pane: install_beside(self, pane), status=self.status, host=self, menus=self.menus)
        self.view.set_tool(self.select_tool)
        self._show_session(self.session)
        self._history_changed()
        self.models.refresh()
        for dock in self.findChildren(QDockWidget):
            self._panels_menu.addAction(dock.toggleViewAction())
        self._restore_layout()
        if not self.autosaver.enabled:  # the app runs on, without recovery files
            self.status.message("no recovery files: the recovery folder is unusable (see the warning)", 0)
            QTimer.singleShot(0, self._warn_no_recovery)

    def _warn_no_recovery(self) -> None:
        show_warning(self, "Working without recovery files", self.autosaver.disabled_reason or "")

    # --- composition -----------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        return dock

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("toolbar_main")
        a = self.act
        bar.addActions([a.open, a.save])
        bar.addSeparator()
        bar.addActions([a.undo, a.redo])
        bar.addSeparator()
        bar.addActions([a.select_tool, a.draw_tool, *self.edit_tools.actions.toolbar(), a.fit])
        bar.addSeparator()
        bar.addWidget(self.models.combo)
        bar.addActions([a.run_model, a.cancel_run])
        self.addToolBar(bar)

    def _connect(self) -> None:
        a, view = self.act, self.view
        a.open.triggered.connect(self.files.open_dialog)
        a.save.triggered.connect(self.files.save)
        a.save_as.triggered.connect(self.files.save_as)
        a.quit.triggered.connect(self.close)
        a.undo.triggered.connect(self.editor.undo)
        a.redo.triggered.connect(self.editor.redo)
        a.delete.triggered.connect(self.editor.delete_selected)
        a.toggle_reviewed.triggered.connect(self.editor.toggle_reviewed)
        a.select_all.triggered.connect(lambda: self.selection.set(i.id for i in self.session.document))
        a.next_unreviewed.triggered.connect(self._next_unreviewed)
        a.select_tool.triggered.connect(lambda: view.set_tool(self.select_tool))
        a.draw_tool.triggered.connect(lambda: view.set_tool(self.draw_tool))
        a.fit.triggered.connect(view.fit_to_window)
        a.show_labels.toggled.connect(self.scene.set_labels_visible)
        a.zoom_in.triggered.connect(lambda: view.zoom_by(1.25))
        a.zoom_out.triggered.connect(lambda: view.zoom_by(0.8))
        a.actual_size.triggered.connect(view.actual_size)
        a.run_model.triggered.connect(self.models.run)
        a.cancel_run.triggered.connect(self.models.cancel)
        self.status.cancel_requested.connect(self.models.cancel)
        self.models.runner.busy_changed.connect(self._show_run_busy)
        a.shortcuts.triggered.connect(lambda: ShortcutsDialog(self.actions(), self).exec())
        self.label_keys.chosen.connect(self.set_label)
        self.label_keys.pending_changed.connect(self._label_pending)
        view.installEventFilter(self._key_filter)
        self.instance_panel.table.installEventFilter(self._key_filter)
        view.scale_changed.connect(self.status.set_zoom)
        view.cursor_moved.connect(lambda pos: self.status.set_cursor(pos, self.session.image))
        view.context_menu_requested.connect(self._context_menu)
        self.instance_panel.activated.connect(view.centre_on_instance)
        self.display_panel.settings_changed.connect(self.scene.image_item.set_settings)
        self.autosaver.failed.connect(self.status.message)
        # Before any controller connects: the canvas shows a new session before others follow it.
        self.session_model.session_changed.connect(self._show_session)
        self.session_model.history_changed.connect(self._history_changed)

    def _connect_case(self) -> None:
        case = self.case
        self.files.opened.connect(case.file_opened)
        self.files.saved.connect(case.file_saved)
        self.status.cancel_requested.connect(case.cancel_run)
        self.act.cancel_run.triggered.connect(case.cancel_run)
        case.runner.busy_changed.connect(self._show_run_busy)

    def _case_name(self) -> str | None:
        return self.case.folder.name if self.case.folder is not None else None

    # --- session ---------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self.session_model.session

    def set_session(self, session: Session) -> None:
        """Show another session (the caller has dealt with the previous one's unsaved changes)."""
        self.session_model.set_session(session)

    def _show_session(self, session: Session) -> None:
        self.label_keys.cancel()
        self.selection.follow(session.document)
        self.scene.set_document(session.document)
        self.instance_panel.set_document(session.document)
        self.display_panel.set_image(session.image, self.scene.image_item.settings)
        self.autosaver.set_session(session)
        self.view.fit_to_window()

    def _history_changed(self) -> None:
        history = self.session.history
        self.act.undo.setEnabled(history.can_undo)
        self.act.redo.setEnabled(history.can_redo)
        # Texts stay short (toolbar buttons keep their width); tool tips say what would be undone.
        self.act.undo.setToolTip(f"Undo {history.undo_text} (Ctrl+Z)" if history.can_undo else "Nothing to undo")
        self.act.redo.setToolTip(f"Redo {history.redo_text} (Ctrl+Shift+Z)" if history.can_redo else "Nothing to redo")
        self.setWindowTitle(f"{self.session.key}[*] \u2014 karyostudio")
        self.setWindowModified(self.session.dirty)

    # --- small behaviours wired above ------------------------------------------------------
    def _show_run_busy(self, busy: bool) -> None:
        """A model run or a whole-case run started or ended: Run and Cancel follow either."""
        self.status.show_running(busy)
        self.act.run_model.setEnabled(not busy)
        self.act.cancel_run.setEnabled(busy)
        self.models.combo.setEnabled(not busy)
        if not busy:
            self.status.clearMessage()

    def set_label(self, label: str | None) -> None:
        count = self.editor.set_label(label)
        if count:
            self.status.message(f"labelled {count} outline(s) {label or 'unlabeled'}")
        else:
            self.status.message("select an outline first, then type its class")

    def _label_pending(self, digit: str) -> None:
        if digit:
            last = "19" if digit == "1" else "22"
            self.status.message(f"class {digit}\u2026 (a second digit names {digit}0-{last})", 1500)

    def _next_unreviewed(self) -> None:
        instance_id = self.editor.select_next_unreviewed()
        if instance_id is None:
            self.status.message("every outline is reviewed")
        else:
            self.view.centre_on_instance(instance_id)

    def build_context_menu(self) -> QMenu:
        """The canvas menu for the current selection (label, review, delete, tools)."""
        return context_menu(self, self.act, self.set_label, bool(self.selection))

    def _context_menu(self, instance_id: int | None, global_pos: QPoint) -> None:
        menu = self.build_context_menu()
        menu.exec(global_pos)
        menu.deleteLater()

    # --- closing ---------------------------------------------------------------------------
    def discard_and_close(self) -> None:
        """Close without asking about unsaved changes (non-interactive use); keeps no recovery file."""
        self._force_close = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._force_close and not self.files.maybe_save():
            event.ignore()
            return
        self.models.runner.shutdown()
        self.case.shutdown()
        self.lab.shutdown()
        self.autosaver.discard()
        self.autosaver.set_session(None)  # releases the recovery lock
        if not self._force_close:  # non-interactive runs leave the user's layout alone
            settings = app_settings()
            settings.setValue(_GEOMETRY_KEY, self.saveGeometry())
            settings.setValue(_STATE_KEY, self.saveState())
        event.accept()

    def _restore_layout(self) -> None:
        settings = app_settings()
        geometry, state = settings.value(_GEOMETRY_KEY), settings.value(_STATE_KEY)
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 860)
        if isinstance(state, QByteArray):
            self.restoreState(state)
