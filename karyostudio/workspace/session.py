"""Session: the document being edited, its undo history, and where it lives on disk.

Qt-free, so file handling is tested without a display. A session is opened from a metaphase
image (PNG, JPEG, BMP, TIFF; 8 or 16 bit) or from a labelme JSON file (which brings its image:
embedded imageData, else the file named by imagePath). It is saved as labelme JSON, atomically;
an image embedded in the opened file stays embedded. Opening never half-succeeds: every read
happens before a Session exists, and failures are FormatError subclasses naming the file.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.document import Document
from karyostudio.core.history import History
from karyostudio.io.errors import FormatError
from karyostudio.io.images import IMAGE_SUFFIXES, decode_image, image_key, orientation_extra, read_image
from karyostudio.io.labelme import embedded_image_bytes, labelme_from_dict, load_json, write_labelme

ANNOTATION_SUFFIX = ".json"
OPENABLE_SUFFIXES = (*IMAGE_SUFFIXES, ANNOTATION_SUFFIX)


class Session:
    """One open document: Document + History + file paths + the unsaved-changes state."""

    def __init__(self, document: Document, *, annotation_path: Path | None = None,
                 extra: dict[str, Any] | None = None, embedded_image: bytes | None = None,
                 skipped: list[str] | None = None):
        self.document = document
        self.history = History(document)
        self.annotation_path = annotation_path
        self.extra = dict(extra or {})  # unknown top-level keys of the opened file, written back
        self.embedded_image = embedded_image  # encoded image bytes the opened file embedded
        self.skipped = list(skipped or [])  # shapes of the opened file that could not be read
        # Names this session's recovery file; unique so two sessions never overwrite each other's.
        self.recovery_name = f"{self.key}-{uuid.uuid4().hex[:10]}{ANNOTATION_SUFFIX}"

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> "Session":
        return cls(Document())

    @classmethod
    def open(cls, path: str | Path) -> "Session":
        """Open an image or a labelme JSON file; raises FormatError (or a subclass) on failure."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ANNOTATION_SUFFIX:
            return cls._open_labelme(path)
        if suffix in IMAGE_SUFFIXES:
            image = read_image(path)
            height, width = image.shape
            # An EXIF orientation was applied (as labelme does); the saved file says so.
            return cls(Document(image_path=path, image_size=(width, height), image=image),
                       extra=orientation_extra(path))
        raise FormatError(path, "cannot open this kind of file: expected an image (PNG, JPEG, BMP, TIFF) "
                                "or a labelme JSON file")

    @classmethod
    def _open_labelme(cls, path: Path) -> "Session":
        data = load_json(path)
        ann = labelme_from_dict(data, path)
        embedded = embedded_image_bytes(data, path) if isinstance(data, dict) else None
        image: np.ndarray | None = None
        if embedded is not None:
            image = decode_image(embedded, source=f"{path} (embedded imageData)")
        elif ann.image_path is not None and ann.image_path.is_file():
            image = read_image(ann.image_path)
        size = (image.shape[1], image.shape[0]) if image is not None else ann.image_size
        document = Document.from_instances(ann.instances, image_path=ann.image_path, image_size=size,
                                           image=image)
        return cls(document, annotation_path=path, extra=ann.extra, embedded_image=embedded,
                   skipped=ann.skipped)

    # --- state -----------------------------------------------------------------------------
    @property
    def image(self) -> np.ndarray | None:
        return self.document.image

    @property
    def image_path(self) -> Path | None:
        return self.document.image_path

    @property
    def key(self) -> str:
        """A short name for titles and file names: the image's (or annotation file's) stem."""
        if self.image_path is not None:
            return image_key(self.image_path.name)
        if self.annotation_path is not None:
            return self.annotation_path.stem
        return "untitled"

    @property
    def dirty(self) -> bool:
        """True when the instances differ from what was last opened or saved."""
        return not self.history.is_clean

    def default_save_path(self) -> Path | None:
        """Where Save writes without asking: the opened JSON, else <image stem>.json beside the image."""
        if self.annotation_path is not None:
            return self.annotation_path
        if self.image_path is not None:
            return self.image_path.with_name(self.key + ANNOTATION_SUFFIX)
        return None

    # --- saving ----------------------------------------------------------------------------
    def to_annotations(self, extra: dict[str, Any] | None = None) -> ImageAnnotations:
        return ImageAnnotations(key=self.key, instances=self.document.instances, image_path=self.image_path,
                                image_size=self.document.image_size, extra={**self.extra, **(extra or {})})

    def save(self, path: str | Path | None = None) -> Path:
        """Write labelme JSON atomically (to path, else the default save path); marks the state clean."""
        target = Path(path) if path is not None else self.default_save_path()
        if target is None:
            raise ValueError("this session has no file to save to; give a path")
        write_labelme(target, self.to_annotations(), image_data=self.embedded_image)
        self.annotation_path = target
        self.history.mark_clean()
        return target
