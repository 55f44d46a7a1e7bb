"""Recovery files: unsaved work written aside so a crash loses at most a few seconds of edits.

A recovery file is a labelme JSON file (written atomically) holding the session's current
instances, its image by path, and under RECOVERY_KEY the file the session was opened from.
Restoring re-opens that file (or the image) and applies the recovered instances as one
undoable step, so the restored session is "unsaved" and undo shows what was on disk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from karyostudio.core.commands import ReplaceInstances
from karyostudio.core.document import Document
from karyostudio.io.errors import FormatError
from karyostudio.io.labelme import read_labelme, write_labelme
from karyostudio.workspace.session import ANNOTATION_SUFFIX, Session

RECOVERY_KEY = "karyostudioRecovery"
RESTORE_TEXT = "restore recovered work"


@dataclass(frozen=True)
class RecoveryEntry:
    """One recovery file found on start-up, described for the restore dialog."""

    path: Path
    source: Path | None  # the annotation file (or image) the work belongs to
    instance_count: int
    modified: dt.datetime

    def describe(self) -> str:
        name = self.source.name if self.source is not None else "untitled"
        return f"{name}: {self.instance_count} outlines, {self.modified:%Y-%m-%d %H:%M:%S}"


def write_recovery(session: Session, directory: Path) -> Path:
    """Write the session's current state to its recovery file in directory (atomically)."""
    path = Path(directory) / session.recovery_name
    origin = session.annotation_path
    marker = {"annotationPath": str(origin.absolute()) if origin is not None else None}
    write_labelme(path, session.to_annotations(extra={RECOVERY_KEY: marker}))
    return path


def remove_recovery(session: Session, directory: Path) -> None:
    (Path(directory) / session.recovery_name).unlink(missing_ok=True)


def list_recovery(directory: Path) -> list[RecoveryEntry]:
    """Readable recovery files in directory, newest first (unreadable ones are left alone)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    entries = []
    for path in directory.glob(f"*{ANNOTATION_SUFFIX}"):
        try:
            ann = read_labelme(path)
        except FormatError:
            continue
        marker = ann.extra.get(RECOVERY_KEY)
        if not isinstance(marker, dict):
            continue
        origin = marker.get("annotationPath")
        source = Path(origin) if isinstance(origin, str) else ann.image_path
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime)
        entries.append(RecoveryEntry(path, source, len(ann.instances), modified))
    return sorted(entries, key=lambda e: e.modified, reverse=True)


def restore_session(entry: RecoveryEntry) -> Session:
    """A session with the recovered instances applied as one undo step; raises FormatError.

    The session keeps the recovery file's name, so its autosave overwrites that file and a
    clean save removes it.
    """
    ann = read_labelme(entry.path)
    marker = ann.extra.pop(RECOVERY_KEY, {})
    origin = marker.get("annotationPath") if isinstance(marker, dict) else None
    annotation_path = Path(origin) if isinstance(origin, str) else None
    session = _open_base(annotation_path, ann.image_path)
    if session is None:
        session = Session(Document(image_path=ann.image_path, image_size=ann.image_size), extra=ann.extra)
    session.annotation_path = annotation_path or session.annotation_path
    session.history.push(ReplaceInstances(ann.instances, text=RESTORE_TEXT))
    session.recovery_name = entry.path.name
    return session


def _open_base(annotation_path: Path | None, image_path: Path | None) -> Session | None:
    """The saved state the recovered work started from: its annotation file, else its image."""
    for candidate in (annotation_path, image_path):
        if candidate is not None and candidate.is_file():
            try:
                return Session.open(candidate)
            except FormatError:
                continue
    return None


def discard_recovery(entry: RecoveryEntry) -> None:
    entry.path.unlink(missing_ok=True)
