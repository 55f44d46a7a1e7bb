"""KaryogramController: the karyogram dock, its actions and menu entries, and its links to the window.

One line in the main window creates it (``self.karyogram = KaryogramController(self)``) and one
passes it each new session. It adds View > Karyogram (K) and Straighten chromosomes,
File > Export karyogram…, and keeps hover in step across the three views: the karyogram, the
metaphase canvas (an outline overlay drawn on top of the hovered chromosome) and the instance
list. Edits made here are core commands on the session's history (one undo step each).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QApplication, QDockWidget, QGraphicsPathItem, QMainWindow, QMenu, QToolBar, QVBoxLayout, \
    QWidget

from karyostudio.core.commands import SetLabel
from karyostudio.core.orientation import ChangeOrientation
from karyostudio.gui.actions import label_menu, menu
from karyostudio.gui.canvas.instance_item import InstanceItem, to_qpolygon
from karyostudio.gui.dialogs.messages import show_error
from karyostudio.gui.karyogram.export import ExportError, ExportMetadata, export_karyogram
from karyostudio.gui.karyogram.export_dialog import ExportDialog, default_export_path
from karyostudio.gui.karyogram.karyotype_edit import KaryotypeBar, effective_karyotype
from karyostudio.gui.karyogram.scene import KaryogramScene
from karyostudio.gui.karyogram.view import KaryogramView
from karyostudio.gui.label_keys import LabelKeyFilter
from karyostudio.gui.panels.instances import ID_ROLE
from karyostudio.gui.session import Session

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
    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        self.selection = window.selection
        self.scene = KaryogramScene(self.selection, self)
        self.view = KaryogramView(self.scene)
        self.karyotype_bar = KaryotypeBar()
        self._build_actions()
        self.panel = QWidget()
        layout = QVBoxLayout(self.panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.karyotype_bar)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.view, 1)
        self.dock = QDockWidget("Karyogram", window)
        self.dock.setObjectName("dock_karyogram")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        # Share the left area as a tab with a dock already there: the karyogram needs its height.
        neighbours = [d for d in window.findChildren(QDockWidget) if d is not self.dock
                      and window.dockWidgetArea(d) == Qt.DockWidgetArea.LeftDockWidgetArea]
        if neighbours:
            window.tabifyDockWidget(neighbours[0], self.dock)
        self.dock.hide()  # shown from View > Karyogram (K); restoreState keeps the user's choice
        self.scene.set_active(False)
        self._build_menus()
        self._connect()
        self.hover_outline = QGraphicsPathItem()
        pen = QPen(HOVER_PEN, 3.0)
        pen.setCosmetic(True)
        self.hover_outline.setPen(pen)
        self.hover_outline.setZValue(5.0)
        self.hover_outline.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.hover_outline.setVisible(False)
        window.scene.addItem(self.hover_outline)

    # --- composition -----------------------------------------------------------------------
    def _action(self, text: str, tip: str, slot, *, checkable: bool = False, shortcut: str | None = None) -> QAction:
        action = QAction(text, self.window)
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
        self.act_straighten = self._action("&Straighten chromosomes", "Show bent chromosomes straightened "
                                           "along their centreline", self.scene.set_straighten, checkable=True)
        self.act_flip_vertical = self._action("Flip &vertically", "Turn the selected chromosomes upside down "
                                              "(mirror top to bottom)", lambda: self.orient("flip_vertical"))
        self.act_flip_horizontal = self._action("Flip &horizontally", "Mirror the selected chromosomes left to "
                                                "right", lambda: self.orient("flip_horizontal"))
        self.act_rotate = self._action("&Rotate 180\u00b0", "Turn the selected chromosomes by 180 degrees",
                                       lambda: self.orient("rotate_180"))
        self.act_fit = self._action("&Fit karyogram", "Show the whole karyogram", lambda: self.view.fit())
        self.toolbar = QToolBar("Karyogram")
        self.toolbar.addActions([self.act_straighten, self.act_flip_vertical, self.act_flip_horizontal,
                                 self.act_rotate, self.act_fit])

    def _build_menus(self) -> None:
        window = self.window
        self.act_show = self.dock.toggleViewAction()
        self.act_show.setText("&Karyogram")
        self.act_show.setShortcut("K")
        self.act_show.setToolTip("Show or hide the karyogram (K)")
        window.addAction(self.act_show)
        view_menu = menu(window, "view")
        view_menu.addSeparator()
        view_menu.addActions([self.act_show, self.act_straighten])
        menu(window, "file").insertAction(window.act.quit, self.act_export)

    def _connect(self) -> None:
        self.dock.visibilityChanged.connect(self._visibility_changed)
        # A tabbed dock comes to the front only once it is laid out: raise it on the next turn.
        self.act_show.toggled.connect(lambda on: QTimer.singleShot(0, self.dock.raise_) if on else None)
        self.view.relabel_requested.connect(self.relabel)
        # The autosaver follows instance edits; a stored karyotype changes none, so save it now.
        self.karyotype_bar.committed.connect(lambda _text: self.window.autosaver.flush())
        self.view.context_menu_requested.connect(self._context_menu)
        self.selection.hover_changed.connect(self._show_metaphase_hover)
        self.selection.changed.connect(self._update_enabled)
        window = self.window
        window.view.cursor_moved.connect(self._metaphase_hover)
        window.view.viewport().installEventFilter(_LeaveFilter(lambda: self.selection.set_hovered(None), self))
        table = window.instance_panel.table
        table.setMouseTracking(True)
        table.entered.connect(lambda index: self.selection.set_hovered(int(index.data(ID_ROLE))))
        table.viewport().installEventFilter(_LeaveFilter(lambda: self.selection.set_hovered(None), self))
        self.view.viewport().installEventFilter(_LeaveFilter(lambda: self.selection.set_hovered(None), self))
        self.view.installEventFilter(LabelKeyFilter(window.label_keys, self))  # type a class, as on the canvas
        self._update_enabled()

    # --- session ---------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        return self.window.session

    def set_session(self, session: Session) -> None:
        self.hover_outline.setVisible(False)
        self.scene.set_document(session.document)
        self.karyotype_bar.set_session(session)

    def _visibility_changed(self, visible: bool) -> None:
        self.scene.set_active(visible)

    def show_dock(self) -> None:
        """Show the karyogram and bring its tab to the front."""
        self.dock.show()
        QTimer.singleShot(0, self.dock.raise_)

    def show_for_screenshot(self) -> None:
        """Show the karyogram large and up to date (``karyostudio gui --screenshot --karyogram``)."""
        self.dock.show()
        QApplication.processEvents()  # lay the dock out, so raising brings its tab to the front
        self.dock.raise_()
        self.window.resizeDocks([self.dock], [int(self.window.width() * 0.5)], Qt.Orientation.Horizontal)
        QApplication.processEvents()  # apply the new dock width before fitting the view to it
        self.scene.set_active(True)
        self.scene.update_now()
        self.view.fit()

    # --- edits -----------------------------------------------------------------------------
    def _present(self, ids) -> list[int]:
        doc = self.session.document
        return [i for i in sorted(ids) if i in doc]

    def relabel(self, ids: list[int], label: str | None) -> int:
        """Give chromosomes another class (a drop on a slot): one undo step."""
        ids = self._present(ids)
        if ids:
            self.session.history.push(SetLabel(ids, label))
            self.window.status.message(f"{len(ids)} chromosome(s) moved to {label or 'unassigned'}")
        return len(ids)

    def orient(self, operation: str) -> int:
        """Flip or turn the selected chromosomes in the karyogram: one undo step, saved with the file."""
        ids = self._present(self.selection.ids)
        if ids:
            self.session.history.push(ChangeOrientation(ids, operation))
        else:
            self.window.status.message("select a chromosome first")
        return len(ids)

    def _update_enabled(self) -> None:
        has = bool(self.selection)
        for action in (self.act_flip_vertical, self.act_flip_horizontal, self.act_rotate):
            action.setEnabled(has)

    def _context_menu(self, instance_id: int | None, global_pos: QPoint) -> None:
        popup = QMenu(self.view)
        if instance_id is not None:
            popup.addMenu(label_menu(popup, self.window.set_label))
            popup.addActions([self.act_flip_vertical, self.act_flip_horizontal, self.act_rotate])
            popup.addSeparator()
        popup.addActions([self.act_straighten, self.act_fit, self.act_export])
        popup.exec(global_pos)
        popup.deleteLater()

    # --- hover across views ----------------------------------------------------------------
    def _metaphase_hover(self, pos: QPointF) -> None:
        hovered = None
        for item in self.window.scene.items(pos):
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
        dialog = ExportDialog(session.key, effective_karyotype(session),
                              default_export_path(session.key, session.annotation_path, session.image_path),
                              self.window)
        if dialog.exec() != ExportDialog.DialogCode.Accepted:
            return
        self.export_to(dialog.target(), dialog.metadata())

    def export_to(self, path, metadata: ExportMetadata | None = None) -> bool:
        """Export now (metadata defaults to the session key, its karyotype and today); False on failure."""
        session = self.session
        if metadata is None:
            metadata = ExportMetadata.today(session.key, effective_karyotype(session))
        if self.scene.pending:  # e.g. the karyogram is hidden: bring it up to date first
            self.scene.update_now()
        try:
            written = export_karyogram(self.scene, path, metadata)
        except ExportError as exc:
            show_error(self.window, "Export karyogram", str(exc))
            return False
        self.window.status.message(f"karyogram written to {written}")
        return True
