"""Rotated-model output -> karyostudio Instances (the one place the rotated families build them).

- :func:`instance_from_rotated_box` (box detectors such as DeepCHM): the polygon is the
  chromosome's outline found inside the box on the image (Otsu inside the box resampled
  upright, the largest dark component running along the box's long axis; see
  ``box_fit.outline_in_rotated_box``); when none is found the box's own 4 corners are used.
  ``attributes["outline"]`` says which ("refined" or "box").
- :func:`instance_from_mask` (mask models such as Enhanced Rotated Mask R-CNN): the polygon is
  the largest outer contour of the mask.
Both keep ``attributes["rotated_box"] = [cx, cy, w, h, theta]`` (normalised, the convention of
karyostudio.geometry.rotated) for the karyogram cut-outs and for the skew-IoU metrics.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import mask_to_polygon
from karyostudio.geometry.rotated import normalize_rotated_boxes, rotated_box_to_polygon
from karyostudio.metrics.detection import ROTATED_BOX
from karyostudio.models.maskrcnn.image_prep import as_uint8
from karyostudio.models.rotated.box_fit import outline_in_rotated_box, rotated_box_from_mask

OUTLINE = "outline"
REFINED, BOX = "refined", "box"


def class_name(label: str | int | None) -> str | None:
    """A canonical class name from a name, a model label 1..24 (CLASS_NAMES index + 1) or None."""
    if label is None or isinstance(label, str):
        return label  # Instance validates names
    index = int(label)
    if not 1 <= index <= len(CLASS_NAMES):
        raise ValueError(f"model labels must lie in 1..{len(CLASS_NAMES)}, got {label}")
    return CLASS_NAMES[index - 1]


def _box_list(box: Sequence[float] | np.ndarray) -> list[float]:
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (5,):
        raise ValueError(f"a rotated box needs 5 values (cx, cy, w, h, theta), got {b.shape[0]}")
    return [round(float(v), 3) for v in normalize_rotated_boxes(b)]


def _score(score: float | None) -> float | None:
    return None if score is None else float(np.clip(score, 0.0, 1.0))


def instance_from_rotated_box(image: np.ndarray | None, box: Sequence[float] | np.ndarray, score: float | None,
                              label: str | int | None, source: str, *, instance_id: int = 1,
                              refine: bool = True) -> Instance:
    """An Instance for one rotated box; the outline is refined on ``image`` (2-D grey) when possible."""
    rbox = _box_list(box)
    polygon = None
    if refine and image is not None:
        polygon = outline_in_rotated_box(as_uint8(image), np.array(rbox))
    outline = REFINED if polygon is not None else BOX
    if polygon is None:
        polygon = rotated_box_to_polygon(rbox)
    return Instance(id=instance_id, polygon=polygon, label=class_name(label), score=_score(score), source=source,
                    attributes={ROTATED_BOX: rbox, OUTLINE: outline})


def instances_from_rotated_boxes(image: np.ndarray | None, boxes: np.ndarray, scores: np.ndarray,
                                 labels: Sequence[str | int | None] | None, source: str, *,
                                 score_threshold: float = 0.0, refine: bool = True) -> list[Instance]:
    """Instances for N rotated boxes, by descending score, ids 1..n, boxes below the threshold left out."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = [None] * len(boxes) if labels is None else list(labels)
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError(f"lengths differ: {len(boxes)} boxes, {len(scores)} scores, {len(labels)} labels")
    out: list[Instance] = []
    for k in np.argsort(-scores, kind="stable"):
        if scores[k] < score_threshold:
            break
        out.append(instance_from_rotated_box(image, boxes[k], scores[k], labels[k], source,
                                             instance_id=len(out) + 1, refine=refine))
    return out


def instance_from_mask(mask: np.ndarray, score: float | None, label: str | int | None, source: str, *,
                       instance_id: int = 1, rotated_box: Sequence[float] | None = None) -> Instance | None:
    """An Instance from a full-image bool mask, or None when the mask is empty.

    ``rotated_box`` is the model's box when it has one; otherwise the mask's minimum-area box.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    polygon = mask_to_polygon(mask)
    if polygon is None:
        return None
    rbox = _box_list(rotated_box if rotated_box is not None else rotated_box_from_mask(mask))
    return Instance(id=instance_id, polygon=polygon, label=class_name(label), score=_score(score), source=source,
                    attributes={ROTATED_BOX: rbox})
