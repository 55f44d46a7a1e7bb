"""Opening, saving and closing documents from the GUI, and restoring recovered work.

Failures never change the open document: a file is read completely into a new Session
before it replaces the current one, and errors are shown in a dialog that names the file.
Files shipped with the program (the bundled sample) are never overwritten: saving one asks for
a place, suggesting the user's documents folder (karyostudio.gui.program_files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from karyostudio.gui.autosave import Autosaver, recovery_in_use
from karyostudio.gui.dialogs.messages import (
    UnsavedChoice, ask_unsaved_changes, show_error, show_reader_warnings, show_warning,
)
from karyostudio.gui.dialogs.recovery import RecoveryAction, choose_recovery
from karyostudio.gui.program_files import in_user_folder, is_shipped
from karyostudio.gui.session_model import SessionModel
from karyostudio.gui.settings import app_settings
from karyostudio.gui.status_sink import StatusSink
from karyostudio.io.errors import FormatError
from karyostudio.io.images import IMAGE_SUFFIXES
from karyostudio.models.bright_field import is_bright_on_dark
from karyostudio.workspace.recovery import discard_recovery, list_recovery, restore_session
from karyostudio.workspace.session import Session

_IMAGE_PATTERNS = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
OPEN_FILTER = f"Images and annotations ({_IMAGE_PATTERNS} *.json);;Images ({_IMAGE_PATTERNS});;labelme JSON (*.json)"
SAVE_FILTER = "labelme JSON (*.json)"
_LAST_DIR_KEY = "files/last_dir"
_SKIPPED_SHOWN = 12  # skipped-shape reports listed in the warning


class FileController(QObject):
    # The path after a successful open / save (recent files, the case table).
    opened = Signal(object)
    saved = Signal(object)

    def __init__(self, sessions: SessionModel, autosaver: Autosaver, status: StatusSink, dialog_parent: QWidget):
        super().__init__(dialog_parent)
        self.sessions = sessions
        self.autosaver = autosaver  # a replaced or saved session's recovery file is removed
        self.status = status
        self.dialog_parent = dialog_parent

    @property
    def session(self) -> Session:
        return self.sessions.session

    # --- open ------------------------------------------------------------------------------
    def open_dialog(self) -> bool:
        if not self.maybe_save():
            return False
        path, _ = QFileDialog.getOpenFileName(self.dialog_parent, "Open", self._last_dir(), OPEN_FILTER)
        return bool(path) and self.open_path(Path(path))

    def open_path(self, path: Path, reader: Callable[[Path], Session] | None = None) -> bool:
        """Open a file in place of the current document (the caller asked about unsaved changes).

        reader builds the session (default Session.open); a case passes one that knows the cell's image.
        """
        try:
            session = (reader or Session.open)(path)
        except (FormatError, OSError, ValueError) as exc:
            show_error(self.dialog_parent, "Cannot open file", f"{path.name} could not be opened.\n\n{exc}")
            return False
        self.autosaver.discard()
        self.sessions.set_session(session)
        self._remember_dir(path)
        image = session.document.image
        # The models read such an image as its negative (models/bright_field.py); the display is left as it is.
        negative = image is not None and is_bright_on_dark(image)
        note = "; bright chromosomes on a dark slide: the models read it as its negative" if negative else ""
        self.status.message(f"opened {path} ({len(session.document)} outlines){note}")
        self.opened.emit(path)
        show_reader_warnings(self.dialog_parent, path.name, session.skipped, _SKIPPED_SHOWN)
        return True

    # --- save ------------------------------------------------------------------------------
    def save(self) -> bool:
        if self.session.annotation_path is None or is_shipped(self.session.annotation_path):
            return self.save_as()
        return self.save_to(self.session.annotation_path)

    def save_as(self) -> bool:
        suggested = self.session.default_save_path()
        if is_shipped(suggested):  # the bundled sample: the user's folder, never the program's
            suggested = in_user_folder(suggested)
        start = str(suggested) if suggested is not None else self._last_dir()
        path, _ = QFileDialog.getSaveFileName(self.dialog_parent, "Save outlines", start, SAVE_FILTER)
        if not path:
            return False
        path = Path(path)
        return self.save_to(path if path.suffix.lower() == ".json" else path.with_name(path.name + ".json"))

    def save_to(self, path: Path) -> bool:
        if is_shipped(path):
            show_warning(self.dialog_parent, "Cannot save here", f"{path} belongs to the program itself and is never "
                         "overwritten; save the outlines in a folder of your own (File \u203a Save As).")
            return False
        try:
            saved = self.session.save(path)
        except (FormatError, OSError, ValueError) as exc:
            show_error(self.dialog_parent, "Cannot save", f"The outlines could not be saved to {path}.\n\n{exc}")
            return False
        self.autosaver.discard()
        self._remember_dir(saved)
        self.status.message(f"saved {saved}")
        self.saved.emit(saved)
        return True

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; True when the caller may go on (saved or discarded)."""
        if not self.session.dirty:
            return True
        choice = ask_unsaved_changes(self.dialog_parent, self.session.key)
        if choice == UnsavedChoice.SAVE:
            return self.save()
        if choice == UnsavedChoice.DISCARD:
            self.autosaver.discard()
            return True
        return False

    # --- recovery --------------------------------------------------------------------------
    def offer_recovery(self) -> bool:
        """Offer to restore recovery files left by a crash; True when one was restored."""
        entries = [e for e in list_recovery(self.autosaver.directory) if not recovery_in_use(e.path)]
        if not entries:
            return False
        decision = choose_recovery(self.dialog_parent, entries)
        if decision.action == RecoveryAction.DISCARD:
            try:
                for entry in entries:
                    discard_recovery(entry)
            except OSError as exc:
                show_warning(self.dialog_parent, "Cannot discard", f"A recovery file could not be removed.\n\n{exc}")
            return False
        if decision.action != RecoveryAction.RESTORE or decision.entry is None:
            return False
        try:
            session = restore_session(decision.entry)
        except (FormatError, OSError, ValueError) as exc:
            show_error(self.dialog_parent, "Cannot restore", f"The recovered work could not be restored.\n\n{exc}")
            return False
        self.autosaver.discard()
        self.sessions.set_session(session)
        self.status.message(f"restored unsaved work on {session.key}; save it to keep it")
        return True

    # --- helpers ---------------------------------------------------------------------------
    def _last_dir(self) -> str:
        return str(app_settings().value(_LAST_DIR_KEY, str(Path.home())))

    def _remember_dir(self, path: Path) -> None:
        app_settings().setValue(_LAST_DIR_KEY, str(Path(path).absolute().parent))
