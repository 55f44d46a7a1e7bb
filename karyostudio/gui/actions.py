"""The application's actions (menu entries, toolbar buttons, keyboard shortcuts) and menus.

Actions are created here without behaviour; the main window connects them. Class keys
(1-9, 0, two-digit entry, X, Y) are not actions: they go through LabelKeyFilter so they
only act where naming makes sense (canvas, instance list).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from karyostudio.core.classes import DENVER_GROUPS

Key = QKeySequence.StandardKey


@dataclass
class Actions:
    open: QAction
    save: QAction
    save_as: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    delete: QAction
    toggle_reviewed: QAction
    select_all: QAction
    next_unreviewed: QAction
    select_tool: QAction
    draw_tool: QAction
    show_labels: QAction
    fit: QAction
    zoom_in: QAction
    zoom_out: QAction
    actual_size: QAction
    run_model: QAction
    cancel_run: QAction
    shortcuts: QAction

    def all(self) -> list[QAction]:
        return [getattr(self, f.name) for f in fields(self)]


def _action(parent: QWidget, text: str, *shortcuts, tip: str = "", checkable: bool = False) -> QAction:
    action = QAction(text, parent)
    keys = [QKeySequence(s) for s in shortcuts]
    if keys:
        action.setShortcuts(keys)
        tip = f"{tip or text} ({keys[0].toString(QKeySequence.SequenceFormat.NativeText)})"
    action.setToolTip(tip or text)
    action.setStatusTip(tip or text)
    action.setCheckable(checkable)
    return action


def create_actions(window: QMainWindow) -> Actions:
    actions = Actions(
        open=_action(window, "&Open…", Key.Open, tip="Open an image or a labelme JSON file"),
        save=_action(window, "&Save", Key.Save, tip="Save the outlines as labelme JSON"),
        save_as=_action(window, "Save &As…", "Ctrl+Shift+S"),
        quit=_action(window, "&Quit", "Ctrl+Q"),
        undo=_action(window, "&Undo", "Ctrl+Z"),
        redo=_action(window, "&Redo", "Ctrl+Shift+Z", "Ctrl+Y"),
        delete=_action(window, "&Delete outline", "Del", tip="Delete the selected outlines"),
        toggle_reviewed=_action(window, "Mark &reviewed", "R",
                                tip="Mark the selected outlines reviewed (again: unreviewed)"),
        select_all=_action(window, "Select &all", "Ctrl+A"),
        next_unreviewed=_action(window, "&Next unreviewed", "N", tip="Select and show the next unreviewed outline"),
        select_tool=_action(window, "&Select / edit", "V", tip="Select outlines and drag their vertices",
                            checkable=True),
        draw_tool=_action(window, "&Draw polygon", "D",
                          tip="Click vertices; Enter or double-click closes, Esc cancels", checkable=True),
        show_labels=_action(window, "Show class &labels", "L", tip="Show the class tag of every outline",
                            checkable=True),
        fit=_action(window, "&Fit to window", "F", "Ctrl+0"),
        zoom_in=_action(window, "Zoom &in", "Ctrl++", "+", "Ctrl+="),
        zoom_out=_action(window, "Zoom &out", "Ctrl+-", "-"),
        actual_size=_action(window, "&Actual pixels", "Ctrl+1"),
        run_model=_action(window, "&Run model", "Ctrl+R", tip="Find and name the chromosomes with the chosen model"),
        cancel_run=_action(window, "&Cancel model run", tip="Stop the running model"),
        shortcuts=_action(window, "&Keyboard shortcuts", "F1"),
    )
    tools = QActionGroup(window)
    tools.addAction(actions.select_tool)
    tools.addAction(actions.draw_tool)
    actions.select_tool.setChecked(True)
    actions.show_labels.setChecked(True)
    actions.cancel_run.setEnabled(False)
    window.addActions(actions.all())  # shortcuts work even for actions only in context menus
    return actions


def label_menu(parent: QWidget, on_label: Callable[[str | None], None]) -> QMenu:
    """"Label as" with one submenu per Denver group, X, Y and "unlabeled"."""
    menu = QMenu("&Label as", parent)
    for group, members in DENVER_GROUPS.items():
        sub = menu.addMenu(f"Group {group}: {members[0]}-{members[-1]}")
        for name in members:
            sub.addAction(name, lambda checked=False, n=name: on_label(n))
    for name in ("X", "Y"):
        menu.addAction(name, lambda checked=False, n=name: on_label(n))
    menu.addSeparator()
    menu.addAction("Unlabeled", lambda checked=False: on_label(None))
    return menu


MENU_NAMES = ("file", "edit", "tools", "view", "analysis", "help")


@dataclass(frozen=True)
class Menus:
    """The window's top-level menus, handed to the controllers that add entries to them."""

    file: QMenu
    edit: QMenu
    tools: QMenu
    view: QMenu
    analysis: QMenu
    help: QMenu
    file_open_end: QAction  # entries that open things go before it (Save)
    file_end: QAction  # exports and the like go before it (Quit)


def build_menus(window: QMainWindow, actions: Actions, on_label: Callable[[str | None], None]) -> Menus:
    bar = window.menuBar()
    menus = {}
    for name in MENU_NAMES:
        menus[name] = bar.addMenu(f"&{name.capitalize()}")
        menus[name].setObjectName(f"menu_{name}")
    menus["file"].addActions([actions.open, actions.save, actions.save_as])
    menus["file"].addSeparator()
    menus["file"].addAction(actions.quit)
    edit = menus["edit"]
    edit.addActions([actions.undo, actions.redo])
    edit.addSeparator()
    edit.addMenu(label_menu(window, on_label))
    edit.addActions([actions.toggle_reviewed, actions.delete, actions.select_all, actions.next_unreviewed])
    menus["tools"].addActions([actions.select_tool, actions.draw_tool])
    view = menus["view"]
    view.addActions([actions.fit, actions.zoom_in, actions.zoom_out, actions.actual_size])
    view.addSeparator()
    view.addAction(actions.show_labels)
    menus["analysis"].addActions([actions.run_model, actions.cancel_run])
    menus["help"].addAction(actions.shortcuts)
    return Menus(**menus, file_open_end=actions.save, file_end=actions.quit)


def context_menu(parent: QWidget, actions: Actions, on_label: Callable[[str | None], None],
                 has_selection: bool) -> QMenu:
    menu = QMenu(parent)
    if has_selection:
        menu.addMenu(label_menu(menu, on_label))
        menu.addActions([actions.toggle_reviewed, actions.delete])
        menu.addSeparator()
    menu.addActions([actions.draw_tool, actions.fit])
    return menu
