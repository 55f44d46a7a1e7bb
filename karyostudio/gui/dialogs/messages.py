"""Message boxes used across the application (one place, so tests and batch use can replace them).

Inside ``non_interactive()`` (screenshot mode) nothing blocks: errors and warnings go to
stderr and questions about unsaved changes are answered "discard".
"""

from __future__ import annotations

import contextlib
import sys
from enum import Enum
from typing import Iterator

from PySide6.QtWidgets import QMessageBox, QWidget


class UnsavedChoice(Enum):
    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


_interactive = True


@contextlib.contextmanager
def non_interactive() -> Iterator[None]:
    global _interactive
    previous, _interactive = _interactive, False
    try:
        yield
    finally:
        _interactive = previous


def show_error(parent: QWidget | None, title: str, text: str) -> None:
    if _interactive:
        QMessageBox.critical(parent, title, text)
    else:
        print(f"karyostudio: {title}: {text}", file=sys.stderr)


def show_warning(parent: QWidget | None, title: str, text: str) -> None:
    if _interactive:
        QMessageBox.warning(parent, title, text)
    else:
        print(f"karyostudio: {title}: {text}", file=sys.stderr)


def ask_unsaved_changes(parent: QWidget | None, name: str) -> UnsavedChoice:
    """Ask what to do with unsaved changes of the document called name."""
    if not _interactive:
        return UnsavedChoice.DISCARD
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(
        parent, "Unsaved changes", f"Save the changes to {name} before closing it?",
        buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
    if answer == buttons.Save:
        return UnsavedChoice.SAVE
    if answer == buttons.Discard:
        return UnsavedChoice.DISCARD
    return UnsavedChoice.CANCEL


def ask_yes_no(parent: QWidget | None, title: str, text: str) -> bool:
    """A yes/no question (default yes); non-interactive use answers no."""
    if not _interactive:
        return False
    buttons = QMessageBox.StandardButton
    answer = QMessageBox.question(parent, title, text, buttons.Yes | buttons.No, buttons.Yes)
    return answer == buttons.Yes


def show_reader_warnings(parent: QWidget | None, source: str, lines: list[str], shown: int = 12) -> None:
    """The one dialog for what the readers reported (skipped, clipped, repaired shapes) on opening ``source``."""
    from karyostudio.io.reader_warnings import count_skipped, warnings_text

    if not lines:
        return
    skipped = count_skipped(lines)
    title = "Some outlines were skipped" if skipped else "Some outlines were changed on reading"
    show_warning(parent, title, f"{source}: {skipped} shape(s) could not be read and were skipped, "
                                f"{len(lines) - skipped} were clipped, repaired or otherwise reported:\n\n"
                                + warnings_text(lines, shown))
