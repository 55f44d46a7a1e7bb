"""Rotated ground truth for box-only annotation sets (Pascal VOC such as Taichung).

The skew-IoU metrics (DeepCHM's AP, precision, recall, F1, mFPs, mOD) compare rotated boxes.
A VOC annotation only has axis-aligned boxes, whose "rotated box" is the axis box itself and
would unfairly fail a correct tilted prediction (a 8 x 50 px chromosome at 35 degrees has
IoU 0.25 with its own axis box). :func:`refine_box_ground_truth` gives every box-only
instance the rotated box refined on its image (box_fit.fit_rotated_box_in_box), stored as
``attributes["rotated_box"]``, which metrics.detection uses when present.
"""

from __future__ import annotations

from collections import Counter

from karyostudio.core.annotated_image import BOX_ONLY, AnnotationSet, ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.io.errors import ImageReadError
from karyostudio.io.images import read_image
from karyostudio.metrics.detection import ROTATED_BOX
from karyostudio.models.maskrcnn.image_prep import as_uint8
from karyostudio.models.rotated.box_fit import fit_rotated_box_in_box

FIT_ATTRIBUTE = "rotated_box_fit"  # the box_fit reason ("ok" or why the axis box was kept)
NO_IMAGE = "no-image"


def _needs_fit(inst: Instance) -> bool:
    return bool(inst.attributes.get(BOX_ONLY, False)) and ROTATED_BOX not in inst.attributes


def refine_box_ground_truth(annotations: AnnotationSet) -> tuple[AnnotationSet, Counter]:
    """A copy whose box-only instances (without a rotated box yet) carry refined rotated boxes,
    and how many instances got each outcome (box_fit reasons, or "no-image" when the image
    file is missing or unreadable, in which case the instances are left as they are)."""
    counts: Counter[str] = Counter()
    out: AnnotationSet = {}
    for key, ann in annotations.items():
        todo = [_needs_fit(i) for i in ann.instances]
        if not any(todo):
            out[key] = ann
            continue
        image = None
        if ann.image_path is not None:
            try:
                image = as_uint8(read_image(ann.image_path))
            except (ImageReadError, OSError, ValueError):
                image = None
        if image is None:
            counts[NO_IMAGE] += sum(todo)
            out[key] = ann
            continue
        instances = []
        for inst, needs_fit in zip(ann.instances, todo):
            if needs_fit:
                fit = fit_rotated_box_in_box(image, inst.bbox)
                counts[fit.reason] += 1
                inst = inst.with_(attributes={**inst.attributes, ROTATED_BOX: [round(float(v), 3) for v in fit.rbox],
                                              FIT_ATTRIBUTE: fit.reason})
            instances.append(inst)
        out[key] = ImageAnnotations(key=ann.key, instances=instances, image_path=ann.image_path,
                                    image_size=ann.image_size, skipped=list(ann.skipped), extra=dict(ann.extra))
    return out, counts
