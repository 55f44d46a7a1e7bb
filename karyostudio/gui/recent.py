"""File > Open Recent: the last files and folders opened, kept in the application settings.

The list holds at most MAX_RECENT entries, newest first, each path once. It is stored as one
JSON string (an INI list of one element reads back as a plain string, so JSON is safer).
Entries whose file or folder no longer exists are removed when the menu is shown, with a
message saying so; one removed between showing the menu and clicking it gets a dialog.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QMenu, QWidget

from karyostudio.gui.dialogs.messages import show_warning
from karyostudio.gui.settings import app_settings

MAX_RECENT = 10
RECENT_KEY = "files/recent"


class RecentPaths:
    """The persistent recent list (files and folders)."""

    def __init__(self, key: str = RECENT_KEY, limit: int = MAX_RECENT):
        self.key = key
        self.limit = limit

    def entries(self) -> list[Path]:
        raw = app_settings().value(self.key, "")
        try:
            items = json.loads(raw) if isinstance(raw, str) and raw else []
        except json.JSONDecodeError:  # a hand-edited settings file: start afresh rather than fail
            items = []
        return [Path(p) for p in items if isinstance(p, str) and p][: self.limit]

    def add(self, path: Path) -> None:
        path = Path(path).absolute()
        self._store([path, *(p for p in self.entries() if p != path)])

    def remove(self, path: Path) -> None:
        self._store([p for p in self.entries() if p != Path(path)])

    def prune(self) -> list[Path]:
        """Drop entries that no longer exist; returns the dropped ones."""
        entries = self.entries()
        missing = [p for p in entries if not p.exists()]
        if missing:
            self._store([p for p in entries if p not in missing])
        return missing

    def clear(self) -> None:
        self._store([])

    def _store(self, paths: list[Path]) -> None:
        settings = app_settings()
        settings.setValue(self.key, json.dumps([str(p) for p in paths[: self.limit]]))
        settings.sync()


class RecentMenu(QMenu):
    """The Open Recent submenu; rebuilt each time it opens. on_open(path) opens a file or folder."""

    def __init__(self, recent: RecentPaths, on_open: Callable[[Path], object],
                 on_message: Callable[[str], None], parent: QWidget | None = None):
        super().__init__("Open &Recent", parent)
        self.setObjectName("menu_open_recent")
        self.recent = recent
        self._on_open = on_open
        self._on_message = on_message
        self.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        missing = self.recent.prune()
        if missing:
            names = ", ".join(p.name for p in missing)
            self._on_message(f"removed {len(missing)} missing entr{'y' if len(missing) == 1 else 'ies'} "
                             f"from Open Recent: {names}")
        self.clear()
        entries = self.recent.entries()
        for number, path in enumerate(entries, start=1):
            text = f"&{number % 10} {path.name}{'/' if path.is_dir() else ''}"
            action = self.addAction(text, lambda checked=False, p=path: self.open(p))
            action.setToolTip(str(path))
            action.setStatusTip(str(path))
        if entries:
            self.addSeparator()
            self.addAction("Clear list", self._clear)
        else:
            self.addAction("No recent files").setEnabled(False)

    def open(self, path: Path) -> None:
        if not path.exists():
            self.recent.remove(path)
            show_warning(self.parentWidget(), "File not found",
                         f"{path} no longer exists; it was removed from the recent list.")
            return
        self._on_open(path)

    def _clear(self) -> None:
        self.recent.clear()
        self.rebuild()
