"""Reading a case folder: every image is a cell, its labelme file <key>.json beside it (Qt-free).

The state of a case is derived from the files each time it is needed, never stored, so it
cannot go stale: a cell without an annotation file is "not started", one whose file says
``cellStatus: rejected`` is "rejected", one whose outlines are all reviewed is "reviewed", any
other annotated cell is "auto". A cell has a karyogram when ``<cell>_karyogram.png`` (.svg, .pdf)
lies beside its image.
"""

from __future__ import annotations

import re
from pathlib import Path

from karyostudio.core.annotated_image import AnnotationSet, ImageAnnotations
from karyostudio.core.cell_count import count_cell
from karyostudio.io.case_report import CELL_STATUS_KEY, KARYOGRAM_SUFFIXES, REJECTED, CaseCell, CellStatus
from karyostudio.io.errors import FormatError
from karyostudio.io.images import IMAGE_SUFFIXES, image_key
from karyostudio.io.labelme import read_labelme

ANNOTATION_SUFFIX = ".json"


class CaseFolderError(FormatError):
    """A case folder cannot be listed (missing, not a folder, no permission)."""


def natural_key(name: str) -> list:
    """Sort key that puts cell2 before cell10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def annotation_path_for(image_path: Path) -> Path:
    return image_path.with_name(image_key(image_path.name) + ANNOTATION_SUFFIX)


def case_images(folder: Path) -> list[Path]:
    """The images of a case folder (not recursive, hidden files left out), in natural order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CaseFolderError(folder, "not a folder")
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise CaseFolderError(folder, f"cannot list the folder: {exc.strerror or exc}") from exc
    images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
              and p.is_file()]
    return sorted(images, key=lambda p: natural_key(p.name))


def karyogram_paths(image_path: Path) -> list[Path]:
    """Where karyogram exports of a cell go: <key>_karyogram.<png|svg|pdf> beside its image."""
    key = image_key(image_path.name)
    return [image_path.with_name(f"{key}_karyogram{suffix}") for suffix in KARYOGRAM_SUFFIXES]


def read_cell(image_path: Path) -> CaseCell:
    """The state of one cell, from its annotation file (if any)."""
    image_path = Path(image_path)
    name = image_key(image_path.name)
    json_path = annotation_path_for(image_path)
    if not json_path.is_file():
        return CaseCell(name, image_path)
    try:
        ann = read_labelme(json_path)
    except (FormatError, OSError, ValueError) as exc:
        return CaseCell(name, image_path, json_path, CellStatus.UNREADABLE, error=str(exc))
    instances = ann.instances
    reviewed = bool(instances) and all(inst.reviewed for inst in instances)
    if ann.extra.get(CELL_STATUS_KEY) == REJECTED:
        status = CellStatus.REJECTED
    else:
        status = CellStatus.REVIEWED if reviewed else CellStatus.AUTO
    counted = count_cell(instances)
    return CaseCell(name, image_path, json_path, status, count=counted.chromosomes, karyotype=counted.karyotype,
                    named=counted.named, unnamed=counted.unnamed, clusters=counted.clusters,
                    karyogram=any(p.is_file() for p in karyogram_paths(image_path)))


def scan_case(folder: Path) -> list[CaseCell]:
    """Every cell of a case folder with its current state."""
    return [read_cell(p) for p in case_images(folder)]


def case_annotations(cells: list[CaseCell]) -> tuple[AnnotationSet, list[str]]:
    """The annotations of every analysed cell, keyed by cell name, and notes on unreadable ones.

    Cells not started yet are left out without a note: they have no annotations to export.
    """
    found: AnnotationSet = {}
    notes: list[str] = []
    for cell in cells:
        if cell.annotation_path is None:
            continue
        try:
            ann = read_labelme(cell.annotation_path)
        except (FormatError, OSError, ValueError) as exc:
            notes.append(f"{cell.name}: {exc}")
            continue
        found[cell.name] = ImageAnnotations(cell.name, ann.instances, cell.image_path, ann.image_size)
    return found, notes


class CaseReader:
    """scan_case that re-reads only annotation files changed since the last scan.

    A file counts as unchanged while its inode, size and modification time are (and the cell's
    karyogram files neither appear nor vanish); every write in karyostudio replaces the file (a
    new inode), so no change goes unseen.
    """

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple, CaseCell]] = {}

    def scan(self, folder: Path) -> list[CaseCell]:
        return [self.read(p) for p in case_images(folder)]

    def read(self, image_path: Path) -> CaseCell:
        try:
            stat = annotation_path_for(image_path).stat()
        except OSError:
            self._cache.pop(image_path, None)
            return read_cell(image_path)
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns,
                     tuple(p.is_file() for p in karyogram_paths(image_path)))
        cached = self._cache.get(image_path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        cell = read_cell(image_path)
        self._cache[image_path] = (signature, cell)
        return cell
