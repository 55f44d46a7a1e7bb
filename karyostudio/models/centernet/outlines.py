"""Detected boxes -> one chromosome outline each, traced on the image inside the box.

Inside each box the chromosome is the dark component that best spans it
(karyostudio.models.classic.crops.crop_from_box, here at a lower darkness level than the
classifier's crops so that pale bands and ends stay inside), grown by the width of the blurred
edge (``edge_px``, about a pixel at the detector's working scale) and clipped to the box. The
outline then covers the whole chromosome, as an annotator would draw it. A box with nothing
dark enough inside keeps the box itself as its outline and says so
(``attributes["outline"] = "box"``), so the reviewer sees every detection.
"""

from __future__ import annotations

import cv2
import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, check
from karyostudio.geometry.polygons import box_to_polygon, mask_to_polygons
from karyostudio.models.centernet.decode import Detections
from karyostudio.models.classic.crops import crop_from_box, image_levels, to_gray

OUTLINE_ATTRIBUTE = "outline"  # "mask" (traced on the image) or "box" (nothing dark enough inside)
BOX_ATTRIBUTE = "box"  # the detector's box (x0, y0, x1, y1), image pixels
OUTLINE_DARKNESS = 0.12  # darkness level of the traced outline (crops use 0.2)
_SIMPLIFY_PX = 0.7  # Douglas-Peucker tolerance: outlines stay within a pixel of the mask
_CHECK_EVERY = 64  # boxes between cancel checks


def outline_of(mask: np.ndarray, origin: tuple[int, int]) -> np.ndarray | None:
    polygons = mask_to_polygons(mask, min_area=3.0, epsilon=_SIMPLIFY_PX) if mask.size else []
    if not polygons or len(polygons[0]) < 3:
        return None
    return polygons[0] + np.array(origin, np.float64)


def grown_in_box(mask: np.ndarray, origin: tuple[int, int], box: np.ndarray, edge_px: int) -> np.ndarray:
    """The mask dilated by ``edge_px`` and clipped to the box (mask window coordinates at ``origin``)."""
    if edge_px < 1 or not mask.any():
        return mask
    kernel = np.ones((2 * edge_px + 1, 2 * edge_px + 1), np.uint8)
    grown = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    x0, y0 = origin
    cols = np.arange(mask.shape[1]) + x0
    rows = np.arange(mask.shape[0]) + y0
    inside_x = (cols >= np.floor(box[0])) & (cols < np.ceil(box[2]))
    inside_y = (rows >= np.floor(box[1])) & (rows < np.ceil(box[3]))
    return grown & inside_y[:, None] & inside_x[None, :]


def instances_from_detections(image: np.ndarray, found: Detections, *, source: str, edge_px: int = 1,
                              cancel: CancelToken | None = None) -> list[Instance]:
    """Unnamed Instances (label None, the detector's score) with traced outlines, in detection order."""
    gray = to_gray(image)
    levels = image_levels(gray)
    instances: list[Instance] = []
    for k, box in enumerate(found.boxes):
        if k % _CHECK_EVERY == 0:
            check(cancel)
        mask, origin = crop_from_box(gray, box, levels, threshold=OUTLINE_DARKNESS)
        polygon = outline_of(grown_in_box(mask, origin, box, edge_px), origin) if mask.size else None
        how = "mask"
        if polygon is None:
            polygon, how = box_to_polygon(tuple(box)), "box"
        attributes = {OUTLINE_ATTRIBUTE: how, BOX_ATTRIBUTE: [round(float(v), 2) for v in box]}
        instances.append(Instance(id=k + 1, polygon=polygon, label=None, score=float(found.scores[k]),
                                  source=source, attributes=attributes))
    return instances


def edge_width(scale: float) -> int:
    """The blurred edge's width in image pixels: about one pixel at the detector's input scale."""
    return max(1, int(round(1.0 / max(scale, 1e-6))))
