"""Typed errors for reading and writing files; messages name the file and say what is wrong."""

from __future__ import annotations

from pathlib import Path


class FormatError(Exception):
    """Base class: a file could not be read or written as the expected format."""

    def __init__(self, path: str | Path | None, message: str):
        self.path = Path(path) if path is not None else None
        self.message = message
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(where + message)


class CheckpointError(FormatError):
    """A model or training checkpoint file is missing, damaged or not a karyostudio checkpoint."""


class ImageReadError(FormatError):
    """An image file is missing, empty, truncated, corrupt, of an unsupported kind or absurd size."""


class AnnotationReadError(FormatError):
    """An annotation file is missing, not valid JSON/XML, or not of the expected structure."""


class AnnotationWriteError(FormatError):
    """An annotation file could not be written (the previous file, if any, is left untouched)."""


class FileWriteError(FormatError, OSError):
    """A file could not be written: a write-protected target, a read-only or full disk, no permission.

    Also an OSError, so code that handles failed writes as OSError keeps doing so; the message
    names the target (never the temporary file) and says why in one line.
    """
