"""The outline-editing tools and actions: brush, split, GrabCut, merge, vertex insert/delete.

``install_edit_tools(window)`` creates the tools and their actions (with shortcuts), puts them
in the Tools and Edit menus and the main toolbar, and connects them to the window's Editor.
Every edit is one undoable command; what cannot be done is said in the status bar.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolBar

from karyostudio.geometry.edit_ops import EditError
from karyostudio.gui.actions import _action, menu
from karyostudio.gui.canvas.brush_tool import BrushTool
from karyostudio.gui.canvas.grabcut_tool import GrabCutTool
from karyostudio.gui.canvas.split_tool import SplitTool
from karyostudio.gui.dialogs.messages import ask_yes_no

if TYPE_CHECKING:
    from karyostudio.gui.main_window import MainWindow


@dataclass
class EditActions:
    brush_tool: QAction
    split_tool: QAction
    grabcut_tool: QAction
    merge: QAction
    insert_vertex: QAction
    delete_vertex: QAction
    brush_smaller: QAction
    brush_larger: QAction

    def all(self) -> list[QAction]:
        return [getattr(self, f.name) for f in fields(self)]


@dataclass
class EditTools:
    actions: EditActions
    brush: BrushTool
    split: SplitTool
    grabcut: GrabCutTool


def create_edit_actions(window: "MainWindow") -> EditActions:
    return EditActions(
        brush_tool=_action(window, "&Brush", "B", checkable=True,
                           tip="Paint onto the selected outline; right or Shift+drag erases; [ and ] size"),
        split_tool=_action(window, "S&plit along a line", "S", checkable=True,
                           tip="Drag a line across an outline to cut it in pieces"),
        grabcut_tool=_action(window, "&GrabCut outline", "G", checkable=True,
                             tip="Drag a box (Ctrl: a rough outline) or click a chromosome; Enter accepts"),
        merge=_action(window, "&Merge outlines", "M", tip="Merge the selected touching or overlapping outlines"),
        insert_vertex=_action(window, "&Insert vertex", "Ins",
                              tip="Insert a vertex on the selected outline's edge under the cursor"),
        delete_vertex=_action(window, "Delete &vertex", "Shift+Del",
                              tip="Delete the selected outline's vertex under the cursor"),
        brush_smaller=_action(window, "Smaller brush", "["),
        brush_larger=_action(window, "Larger brush", "]"),
    )


def install_edit_tools(window: "MainWindow") -> EditTools:
    act, view, editor, say = window.act, window.view, window.editor, window.status.message
    actions = create_edit_actions(window)
    back_to_select = act.select_tool.trigger

    def replace(instance_id: int, pieces: list, text: str) -> None:
        try:
            editor.replace_outline(instance_id, pieces, text)
        except EditError as exc:
            say(str(exc))

    tools = EditTools(
        actions=actions,
        brush=BrushTool(view, replace, say),
        split=SplitTool(view, replace, back_to_select, say),
        grabcut=GrabCutTool(view, lambda polygon, label: editor.add_outline(
            polygon, label, lambda text: ask_yes_no(window, "GrabCut outline", text)), back_to_select, say),
    )
    window.select_tool.message = say
    editor.pending_outline = lambda label: view.tool is tools.grabcut and tools.grabcut.accept_with_label(label)

    def merge() -> None:
        try:
            editor.merge_selected()
        except EditError as exc:
            say(str(exc))

    group = act.select_tool.actionGroup()
    for action, tool in ((actions.brush_tool, tools.brush), (actions.split_tool, tools.split),
                         (actions.grabcut_tool, tools.grabcut)):
        if group is not None:
            group.addAction(action)
        action.triggered.connect(lambda checked=False, t=tool: view.set_tool(t))
    actions.merge.triggered.connect(merge)
    select = window.select_tool
    vertex_hint = "vertices are edited with Select (V)"
    actions.insert_vertex.triggered.connect(
        lambda: select.insert_vertex_at_cursor() if view.tool is select else say(vertex_hint))
    actions.delete_vertex.triggered.connect(
        lambda: select.delete_vertex_at_cursor() if view.tool is select else say(vertex_hint))
    actions.brush_smaller.triggered.connect(tools.brush.shrink)
    actions.brush_larger.triggered.connect(tools.brush.grow)

    window.addActions(actions.all())
    tools_menu = menu(window, "tools")
    tools_menu.addActions([actions.brush_tool, actions.split_tool, actions.grabcut_tool])
    tools_menu.addSeparator()
    tools_menu.addActions([actions.brush_smaller, actions.brush_larger])
    edit_menu = menu(window, "edit")
    edit_menu.addSeparator()
    edit_menu.addActions([actions.merge, actions.insert_vertex, actions.delete_vertex])
    toolbar = window.findChild(QToolBar, "toolbar_main")
    if toolbar is not None:
        toolbar.insertActions(act.fit, [actions.brush_tool, actions.split_tool, actions.grabcut_tool, actions.merge])
    return tools
