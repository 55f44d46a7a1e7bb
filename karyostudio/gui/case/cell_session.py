"""Opening a cell of a case: its annotation file with the cell's own image.

A labelme file names its image by a relative imagePath, which breaks when files are copied
or renamed (a folder of cells assembled from elsewhere, say). In a case the image is known,
the file beside it, so when imagePath leads nowhere the cell's image is used; the next save
writes the corrected imagePath.
"""

from __future__ import annotations

from pathlib import Path

from karyostudio.core.document import Document
from karyostudio.workspace.session import Session
from karyostudio.io.images import read_image


def open_cell_session(annotation_path: Path, image_path: Path) -> Session:
    """Session.open(annotation_path), with image_path as the image when the file's own does not load."""
    session = Session.open(annotation_path)
    if session.image is not None or session.embedded_image is not None:
        return session
    image = read_image(image_path)  # ImageReadError names the file, like any open
    height, width = image.shape[:2]
    document = Document.from_instances(session.document.instances, image_path=image_path,
                                       image_size=(width, height), image=image)
    return Session(document, annotation_path=annotation_path, extra=session.extra, skipped=session.skipped)
