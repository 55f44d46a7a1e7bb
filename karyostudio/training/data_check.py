"""A look at a training config's annotation folders before any training starts.

Readers skip shapes they cannot use (unknown labels such as "-1" or "chr1", broken outlines) and
say so; a trainer then quietly learns from what is left. When nothing is left, training would
still run, "converge" on empty targets and export a model that finds nothing, so it is refused
here with what the readers reported. Every annotation path a config names is checked: the data
sources (``data.mask_sources``/``box_sources``, ``settings.sources``), reviewed folders
(``settings.labelme_dirs``) and the crop classifier's Taichung tree (family "classic":
``settings.data_root``).

Only as much is read as is needed to find one named chromosome, so a large VOC tree costs a few
files, not a second full read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.io.annotation_set import load_annotation_set
from karyostudio.io.errors import AnnotationReadError
from karyostudio.io.labelme import read_labelme
from karyostudio.io.voc import read_voc, voc_annotation_folder

SHOWN_REASONS = 5


class NoTrainingData(ValueError):
    """A config's annotation source holds no usable (named) chromosome."""


@dataclass
class SourceCheck:
    path: Path
    files_read: int = 0
    labelled: int = 0
    skipped: list[str] = field(default_factory=list)


def annotation_paths(config: Any) -> list[tuple[str, Path]]:
    """(kind, path) of every annotation source the config names (synthetic sources have none)."""
    from karyostudio.training.config import data_path

    found: list[tuple[str, Any]] = []
    data = getattr(config, "data", None)
    for source in [*getattr(data, "mask_sources", []), *getattr(data, "box_sources", [])]:
        found.append((source.kind, source.path))
    settings = getattr(config, "settings", None) or {}
    if isinstance(settings, dict):
        for source in settings.get("sources") or []:
            if isinstance(source, dict):
                found.append((str(source.get("kind", "")), source.get("path", "")))
        for folder in settings.get("labelme_dirs") or []:
            found.append(("labelme", folder))
        if getattr(config, "family", "") == "classic" and settings.get("data_root"):
            found.append(("voc", settings["data_root"]))
    return [(kind, data_path(config, str(path))) for kind, path in found
            if kind in ("labelme", "voc") and isinstance(path, (str, Path)) and str(path)]


def check_training_data(config: Any) -> list[SourceCheck]:
    """Raise NoTrainingData when a source of ``config`` holds no named chromosome; else the checks.

    Paths that do not exist are left to the trainers, which report them in their own words.
    """
    checks = []
    for kind, path in annotation_paths(config):
        if not path.exists():
            continue
        check = SourceCheck(path)
        try:
            for ann in _annotations(kind, path):
                check.files_read += 1
                check.skipped.extend(f"{ann.key}: {line}" for line in ann.skipped)
                check.labelled += sum(1 for inst in ann.instances if inst.label is not None)
                if check.labelled:
                    break
        except AnnotationReadError:
            continue  # the trainer reports unreadable data with its context
        if not check.labelled:
            raise NoTrainingData(_refusal(kind, check))
        checks.append(check)
    return checks


def _refusal(kind: str, check: SourceCheck) -> str:
    if check.skipped:
        reasons = "; ".join(check.skipped[:SHOWN_REASONS])
        more = len(check.skipped) - SHOWN_REASONS
        what = (f"all {len(check.skipped)} shape(s) in {check.files_read} file(s) were skipped: {reasons}"
                + (f"; ... and {more} more" if more > 0 else ""))
    else:
        what = f"its {check.files_read} file(s) hold no chromosome outline or box"
    return (f"no usable training data in the {kind} source {check.path}: {what}. karyostudio learns the "
            f"classes 1-22, X and Y (also 23/24 and Taichung's A1-G22); nothing was trained")


def _annotations(kind: str, path: Path) -> Iterator[ImageAnnotations]:
    """The source's annotation files one at a time (so the check can stop at the first good one)."""
    if path.is_file():
        yield from load_annotation_set(path).values()
        return
    folder = voc_annotation_folder(path) or path
    files = sorted(p for p in folder.iterdir() if p.is_file())
    xml = [p for p in files if p.suffix.lower() == ".xml"]
    if kind == "voc" or xml:
        yield from _each(read_voc, xml)
    else:
        yield from _each(read_labelme, [p for p in files if p.suffix.lower() == ".json"])


def _each(reader, paths: Iterable[Path]) -> Iterator[ImageAnnotations]:
    for p in paths:
        yield reader(p)
