"""KaryogramController: the karyogram pane, its actions and menu entries, and its links to the window.

The main window creates it with what it works with (the session model, the selection, the
metaphase canvas, the instance table); it follows the session model. ``place_pane`` puts the
karyogram pane beside the metaphase (a splitter the user sizes, karyostudio.gui.karyogram.pane);
the controller adds View > Karyogram (K), Straighten bent
chromosomes, Ideograms, File > Export karyogram…; it keeps hover in step across the three
views: the karyogram, the metaphase canvas (an outline overlay drawn on top of the hovered
chromosome) and the instance list. Edits made here are core commands on the session's history
(one undo step each).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QAction, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QApplication, QGraphicsPathItem, QMenu, QSplitter, QTableView, QToolBar, QWidget

from karyostudio.core.cell_count import count_cell
from karyostudio.core.commands import SetLabel
from karyostudio.core.orientation import ChangeOrientation
from karyostudio.gui.actions import Menus, label_menu
from karyostudio.gui.canvas.instance_item import InstanceItem, to_qpolygon
from karyostudio.gui.canvas.view import MetaphaseView
from karyostudio.gui.dialogs.messages import show_error
from karyostudio.gui.karyogram.export import ExportError, ExportMetadata, ExportOptions, export_karyogram
from karyostudio.gui.karyogram.export_dialog import ExportDialog, default_export_path
from karyostudio.gui.karyogram.karyotype_edit import KaryotypeBar, effective_karyotype
from karyostudio.gui.karyogram.pane import KaryogramPane, remember_visible
from karyostudio.gui.karyogram.scene import KaryogramScene
from karyostudio.gui.label_keys import LabelKeyEntry, LabelKeyFilter
from karyostudio.gui.panels.instances import ID_ROLE
from karyostudio.gui.selection import Selection
from karyostudio.gui.session_model import SessionModel
from karyostudio.gui.status_sink import StatusSink
from karyostudio.workspace.session import Session

HOVER_PEN = QColor(30, 144, 255)


class _LeaveFilter(QObject):
    """Calls back when the mouse leaves a widget (hover ends there)."""

    def __init__(self, on_leave, parent: QObject):
        super().__init__(parent)
        self._on_leave = on_leave

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            self._on_leave()
        return False


class KaryogramController(QObject):
    """``set_label`` names the selection (as class keys do); ``save_recovery`` writes the recovery
    file now; ``case_name`` is the open case's name or None; ``place_pane`` puts the pane beside the
    metaphase and returns the splitter holding both; ``host`` owns the actions and parents dialogs."""

    def __init__(self, *, sessions: SessionModel, selection: Selection, canvas: MetaphaseView,
                 instance_table: QTableView, label_keys: LabelKeyEntry, set_label: Callable[[str | None], None],
                 save_recovery: Callable[[], None], case_name: Callable[[], str | None],
                 place_pane: Callable[[QWidget], QSplitter], status: StatusSink, host: QWidget, menus: Menus):
        super().__init__(host)
        self.sessions = sessions
        self.selection = selection
        self.canvas = canvas
        self.label_keys = label_keys
        self.set_label = set_label
        self.save_recovery = save_recovery
        self.case_name = case_name
        self.status = status
        self.host = host
        self.scene = KaryogramScene(self.selection, self)
        self.karyotype_bar = KaryotypeBar()
        self._build_actions()
        self.pane = KaryogramPane(self.scene, self.karyotype_bar, self.toolbar)
        self.view, self.strip_view = self.pane.view, self.pane.strip_view
        self.splitter = place_pane(self.pane)
        self._build_menus(menus)
        self._connect(instance_table)
        self.scene.set_active(self.shown)
        self.hover_outline = QGraphicsPathItem()
        pen = QPen(HOVER_PEN, 3.0)
        pen.setCosmetic(True)
        self.hover_outline.setPen(pen)
        self.hover_outline.setZValue(5.0)
        self.hover_outline.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.hover_outline.setVisible(False)
        canvas.metaphase_scene.addItem(self.hover_outline)
        sessions.session_changed.connect(self.set_session)
        # An edit, undo or redo of the hovered outline redraws its overlay at once.
        sessions.document_changed.connect(lambda _event: self._show_metaphase_hover())
        sessions.history_changed.connect(self._update_header)
        self.set_session(sessions.session)

    # --- composition -----------------------------------------------------------------------
    def _action(self, text: str, tip: str, slot, *, checkable: bool = False, shortcut: str | None = None) -> QAction:
        action = QAction(text, self.host)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.setCheckable(checkable)
        if shortcut:
            action.setShortcut(shortcut)
        (action.toggled if checkable else action.triggered).connect(slot)
        return action

    def _build_actions(self) -> None:
        self.act_export = self._action("Export &karyogram\u2026", "Save the karyogram as PNG, SVG or PDF",
                                       self.export_dialog)
        self.act_straighten = self._action("&Straighten bent chromosomes", "Show bent chromosomes straightened "
                                           "along their centreline (off: only turned upright)",
                                           self.scene.set_straighten, checkable=True)
        self.act_straighten.setChecked(True)
        self.act_ideograms = self._action("&Ideograms", "Show each class's G-band ideogram beside its chromosomes",
                                          self.scene.set_ideograms, checkable=True)
        self.act_ideograms.setChecked(True)
        self.act_flip_vertical = self._action("Flip &vertically", "Turn the selected chromosomes upside down "
                                              "(mirror top to bottom)", lambda: self.orient("flip_vertical"))
        self.act_flip_horizontal = self._action("Flip &horizontally", "Mirror the selected chromosomes left to "
                                                "right", lambda: self.orient("flip_horizontal"))
        self.act_rotate = self._action("&Rotate 180\u00b0", "Turn the selected chromosomes by 180 degrees",
                                       lambda: self.orient("rotate_180"))
        self.act_fit = self._action("&Fit karyogram", "Show the whole karyogram page", lambda: self.pane.fit())
        self.toolbar = QToolBar("Karyogram")
        self.toolbar.addActions([self.act_straighten, self.act_ideograms, self.act_flip_vertical,
                                 self.act_flip_horizontal, self.act_rotate, self.act_fit, self.act_export])

    def _build_menus(self, menus: Menus) -> None:
        self.act_show = self._action("&Karyogram", "Show or hide the karyogram beside the metaphase (K)",
                                     self._set_shown, checkable=True, shortcut="K")
        self.act_show.setChecked(self.shown)
        self.host.addAction(self.act_show)
        menus.view.addSeparator()
        menus.view.addActions([self.act_show, self.act_straighten, self.act_ideograms])
        menus.file.insertAction(menus.file_end, self.act_export)

    def _connect(self, table: QTableView) -> None:
        for view in (self.view, self.strip_view):
            view.relabel_requested.connect(self.relabel)
            view.context_menu_requested.connect(self._context_menu)
            view.installEventFilter(LabelKeyFilter(self.label_keys, self))  # type a class, as on the canvas
            view.viewport().installEventFilter(_LeaveFilter(lambda: self.selection.set_hovered(None), self))
        # The autosaver follows instance edits; a stored karyotype changes none, so save it now.
        self.karyotype_bar.committed.connect(lambda _text: self.save_recovery())
        self.selection.hover_changed.connect(self._show_metaphase_hover)
        self.selection.changed.connect(self._update_enabled)
        self.canvas.cursor_moved.connect(self._metaphase_hover)
        self.canvas.viewport().installEventFilter(_LeaveFilter(lambda: self.selection.set_hovered(None), self))
        table.setMouseTracking(True)
        table.entered.connect(lambda index: self.selection.set_hovered(int(index.data(ID_ROLE))))
        table.viewport().installEventFilter(_LeaveFilter(lambda: self.selection.set_hovered(None), self))
        self._update_enabled()

    # --- session ---------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self.sessions.session

    def set_session(self, session: Session) -> None:
        self.hover_outline.setVisible(False)
        self.scene.set_document(session.document)
        self.karyotype_bar.set_session(session)
        self._update_header()

    def _update_header(self) -> None:
        session = self.session
        self.scene.set_header([f"{session.key}    {effective_karyotype(session)}",
                               count_cell(session.document).text()])

    def _set_shown(self, on: bool) -> None:
        self.pane.setVisible(on)
        self.scene.set_active(on)
        remember_visible(on)
        if on:
            self.pane.fit()

    @property
    def shown(self) -> bool:
        return self.pane.isVisibleTo(self.splitter)

    def show_pane(self) -> None:
        """Show the karyogram beside the metaphase."""
        self.act_show.setChecked(True)

    show_dock = show_pane  # the name karyostudio.gui.app uses

    def catch_up(self) -> None:
        """Show every pending document change now, where the karyogram is shown (a screenshot)."""
        if self.shown:
            self.scene.set_active(True)
            self.scene.update_now()

    def show_for_screenshot(self) -> None:
        """Show the karyogram large and up to date (``karyostudio gui --screenshot --karyogram``)."""
        self.show_pane()
        width = max(self.splitter.width(), 2)
        self.splitter.setSizes([int(width * 0.42), width - int(width * 0.42)])
        QApplication.processEvents()  # apply the new sizes before fitting the view to them
        self.scene.set_active(True)
        self.scene.update_now()
        self.pane.fit()

    # --- edits -----------------------------------------------------------------------------
    def _present(self, ids) -> list[int]:
        doc = self.session.document
        return [i for i in sorted(ids) if i in doc]

    def relabel(self, ids: list[int], label: str | None) -> int:
        """Give chromosomes another class (a drop on a slot): one undo step."""
        ids = self._present(ids)
        if ids:
            self.session.history.push(SetLabel(ids, label))
            self.status.message(f"{len(ids)} chromosome(s) moved to {label or 'unassigned'}")
        return len(ids)

    def orient(self, operation: str) -> int:
        """Flip or turn the selected chromosomes in the karyogram: one undo step, saved with the file."""
        ids = self._present(self.selection.ids)
        if ids:
            self.session.history.push(ChangeOrientation(ids, operation))
        else:
            self.status.message("select a chromosome first")
        return len(ids)

    def _update_enabled(self) -> None:
        has = bool(self.selection)
        for action in (self.act_flip_vertical, self.act_flip_horizontal, self.act_rotate):
            action.setEnabled(has)

    def _context_menu(self, instance_id: int | None, global_pos: QPoint) -> None:
        popup = QMenu(self.view)
        if instance_id is not None:
            popup.addMenu(label_menu(popup, self.set_label))
            popup.addActions([self.act_flip_vertical, self.act_flip_horizontal, self.act_rotate])
            popup.addSeparator()
        popup.addActions([self.act_straighten, self.act_ideograms, self.act_fit, self.act_export])
        popup.exec(global_pos)
        popup.deleteLater()

    # --- hover across views ----------------------------------------------------------------
    def _metaphase_hover(self, pos: QPointF) -> None:
        hovered = None
        for item in self.canvas.metaphase_scene.items(pos):
            if isinstance(item, InstanceItem) and item.polygon().containsPoint(pos, Qt.FillRule.OddEvenFill):
                hovered = item.instance_id
                break
        self.selection.set_hovered(hovered)

    def _show_metaphase_hover(self) -> None:
        hovered = self.selection.hovered
        doc = self.session.document
        if hovered is None or hovered not in doc:
            self.hover_outline.setVisible(False)
            return
        path = QPainterPath()
        path.addPolygon(to_qpolygon(doc.get(hovered).polygon))
        path.closeSubpath()
        self.hover_outline.setPath(path)
        self.hover_outline.setVisible(True)

    # --- export ----------------------------------------------------------------------------
    def export_dialog(self) -> None:
        session = self.session
        case = self.case_name()
        in_case = case is not None and session.image_path is not None
        dialog = ExportDialog(case or session.key, effective_karyotype(session),
                              default_export_path(session.key, session.annotation_path, session.image_path,
                                                  session.image_path.parent if in_case else None),
                              self.host, cell=session.key if case else None,
                              counts=count_cell(session.document).text())
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        self.export_to(dialog.target(), dialog.metadata(), dialog.options())

    def export_to(self, path, metadata: ExportMetadata | None = None, options: ExportOptions = ExportOptions()) -> bool:
        """Export now (metadata defaults to the case, the cell, its karyotype and today); False on failure."""
        session = self.session
        if metadata is None:
            case = self.case_name()
            metadata = ExportMetadata.today(case or session.key, effective_karyotype(session),
                                            cell=session.key if case else None,
                                            counts=count_cell(session.document).text())
        try:
            written = export_karyogram(self.scene, path, metadata, options)
        except ExportError as exc:
            show_error(self.host, "Export karyogram", str(exc))
            return False
        self.status.message(f"karyogram written to {written}")
        return True
