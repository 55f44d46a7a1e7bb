"""Converting annotation sets between formats: load any readable format, save as labelme, COCO or VOC."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from karyostudio.core.annotated_image import BOX_ONLY
from karyostudio.core.progress import CancelToken, ProgressCallback
from karyostudio.io.annotation_set import WRITE_FORMATS, load_annotations_with_format, save_annotation_set
from karyostudio.io.reader_warnings import reader_warnings


@dataclass
class ConversionSummary:
    source_format: str
    target_format: str
    images: int
    instances_read: int
    instances_written: int
    skipped: list[str] = field(default_factory=list)  # "key: reason" for shapes/objects not read
    notes: list[str] = field(default_factory=list)  # what the target format could not hold as is


def convert_annotations(src: str | Path, out: str | Path, fmt: str, *,
                        image_keys: Mapping[int, str] | None = None,
                        progress: ProgressCallback | None = None,
                        cancel: CancelToken | None = None) -> ConversionSummary:
    """Read annotations from src (any format load_annotation_set reads) and write them to out as fmt.

    Progress messages start with "reading" or "writing" so a caller can show the two phases.
    """
    if fmt not in WRITE_FORMATS:
        raise ValueError(f"unknown target format {fmt!r}; expected one of {', '.join(WRITE_FORMATS)}")

    def phase(name: str) -> ProgressCallback | None:
        if progress is None:
            return None
        return lambda done, total, message="": progress(done, total, f"{name} {message}".strip())

    source_format, annotations = load_annotations_with_format(src, image_keys=image_keys,
                                                              progress=phase("reading"), cancel=cancel)
    notes = save_annotation_set(annotations, out, fmt, progress=phase("writing"), cancel=cancel)
    instances = [inst for ann in annotations.values() for inst in ann.instances]
    written = instances if fmt == "labelme" else [inst for inst in instances if inst.label is not None]
    if fmt == "voc":
        reduced = sum(1 for inst in written if not inst.attributes.get(BOX_ONLY, False))
        if reduced:
            notes.append(f"{reduced} outline(s) were written as their bounding boxes (VOC holds boxes only)")
    skipped = reader_warnings(annotations)
    return ConversionSummary(source_format=source_format, target_format=fmt, images=len(annotations),
                             instances_read=len(instances), instances_written=len(written),
                             skipped=skipped, notes=notes)
