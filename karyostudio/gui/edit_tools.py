"""The outline-editing tools and actions: brush, split, GrabCut, merge, vertex insert/delete.

``install_edit_tools`` creates the tools and their actions (with shortcuts), puts them in the
Tools and Edit menus, and connects them to the Editor; the window puts the tool actions on its
toolbar. Every edit is one undoable command; what cannot be done is said in the status bar.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from karyostudio.geometry.edit_ops import EditError
from karyostudio.gui.actions import Menus, _action
from karyostudio.gui.canvas.brush_tool import BrushTool
from karyostudio.gui.canvas.grabcut_tool import GrabCutTool
from karyostudio.gui.canvas.split_tool import SplitTool
from karyostudio.gui.canvas.tools import SelectTool
from karyostudio.gui.canvas.view import MetaphaseView
from karyostudio.gui.dialogs.messages import ask_yes_no
from karyostudio.gui.editing import Editor


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

    def toolbar(self) -> list[QAction]:
        return [self.brush_tool, self.split_tool, self.grabcut_tool, self.merge]


@dataclass
class EditTools:
    actions: EditActions
    brush: BrushTool
    split: SplitTool
    grabcut: GrabCutTool


def create_edit_actions(host: QWidget) -> EditActions:
    return EditActions(
        brush_tool=_action(host, "&Brush", "B", checkable=True,
                           tip="Paint onto the selected outline; right or Shift+drag erases; [ and ] size"),
        split_tool=_action(host, "S&plit along a line", "S", checkable=True,
                           tip="Drag a line across an outline to cut it in pieces"),
        grabcut_tool=_action(host, "&GrabCut outline", "G", checkable=True,
                             tip="Drag a box (Ctrl: a rough outline) or click a chromosome; Enter accepts"),
        merge=_action(host, "&Merge outlines", "M", tip="Merge the selected touching or overlapping outlines"),
        insert_vertex=_action(host, "&Insert vertex", "Ins",
                              tip="Insert a vertex on the selected outline's edge under the cursor"),
        delete_vertex=_action(host, "Delete &vertex", "Shift+Del",
                              tip="Delete the selected outline's vertex under the cursor"),
        brush_smaller=_action(host, "Smaller brush", "["),
        brush_larger=_action(host, "Larger brush", "]"),
    )


def install_edit_tools(host: QWidget, menus: Menus, view: MetaphaseView, editor: Editor, select: SelectTool,
                       select_action: QAction, say: Callable[[str], None]) -> EditTools:
    """The tools on ``view``; ``select_action`` (in the tool group) switches back to ``select``;
    ``say`` shows a message; ``host`` owns the actions and parents the dialogs."""
    actions = create_edit_actions(host)
    back_to_select = select_action.trigger

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
            polygon, label, lambda text: ask_yes_no(host, "GrabCut outline", text)), back_to_select, say),
    )
    select.message = say
    editor.pending_outline = lambda label: view.tool is tools.grabcut and tools.grabcut.accept_with_label(label)

    def merge() -> None:
        try:
            editor.merge_selected()
        except EditError as exc:
            say(str(exc))

    group = select_action.actionGroup()
    for action, tool in ((actions.brush_tool, tools.brush), (actions.split_tool, tools.split),
                         (actions.grabcut_tool, tools.grabcut)):
        if group is not None:
            group.addAction(action)
        action.triggered.connect(lambda checked=False, t=tool: view.set_tool(t))
    actions.merge.triggered.connect(merge)
    vertex_hint = "vertices are edited with Select (V)"
    actions.insert_vertex.triggered.connect(
        lambda: select.insert_vertex_at_cursor() if view.tool is select else say(vertex_hint))
    actions.delete_vertex.triggered.connect(
        lambda: select.delete_vertex_at_cursor() if view.tool is select else say(vertex_hint))
    actions.brush_smaller.triggered.connect(tools.brush.shrink)
    actions.brush_larger.triggered.connect(tools.brush.grow)

    host.addActions(actions.all())
    menus.tools.addActions([actions.brush_tool, actions.split_tool, actions.grabcut_tool])
    menus.tools.addSeparator()
    menus.tools.addActions([actions.brush_smaller, actions.brush_larger])
    menus.edit.addSeparator()
    menus.edit.addActions([actions.merge, actions.insert_vertex, actions.delete_vertex])
    return tools
