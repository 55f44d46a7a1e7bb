"""ImageAnnotations: the instances of one image as read from (or written to) an annotation file.

This is the exchange type between io/ (readers and writers), metrics/ (evaluation) and the
CLI: a collection of annotations is a dict mapping ``key`` (the image file stem, which is
how ground truth and predictions are matched) to ImageAnnotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from karyostudio.core.instance import Instance

# Instances read from box-only formats (Pascal VOC, COCO bbox without segmentation) carry
# this attribute set to True: their polygon is just the 4-corner box, so mask metrics skip them.
BOX_ONLY = "box_only"


@dataclass
class ImageAnnotations:
    key: str
    instances: list[Instance] = field(default_factory=list)
    image_path: Path | None = None
    image_size: tuple[int, int] | None = None  # (width, height)
    # What the reader reported: shapes it skipped, outlines it clipped or repaired, a contradicted size.
    skipped: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # unknown top-level keys of the file, kept on rewrite
    image_data: bytes | None = None  # the image the file embedded (labelme imageData), kept on rewrite

    @property
    def has_masks(self) -> bool:
        """True when every instance has a real outline (not a box stand-in)."""
        return all(not inst.attributes.get(BOX_ONLY, False) for inst in self.instances)


AnnotationSet = dict[str, ImageAnnotations]
