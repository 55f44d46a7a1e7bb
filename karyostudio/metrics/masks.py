"""Instance masks for evaluation: polygons rasterised inside their own bounding box.

Whole-image masks of 3200 x 2200 metaphases would need ~7 MB per instance; cropping each
mask to its pixel bounding box keeps memory small and lets pairwise intersections look at
the overlapping window only. Rasterisation is karyostudio.geometry.polygons.polygon_to_mask
(a pixel belongs to a polygon when its centre is inside), clipped to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from karyostudio.geometry.polygons import polygon_to_mask

Canvas = tuple[int, int, int, int]  # (x0, y0, x1, y1): pixel columns x0..x1-1, rows y0..y1-1


def canvas_for(image_size: tuple[int, int] | None, polygon_sets: Sequence[Sequence[np.ndarray]]) -> Canvas:
    """The image (0, 0, w, h) when its size is known, else the pixel box covering all polygons."""
    if image_size is not None:
        w, h = image_size
        return 0, 0, int(w), int(h)
    polys = [p for polys in polygon_sets for p in polys]
    if not polys:
        return 0, 0, 0, 0
    lo = np.min([p.min(axis=0) for p in polys], axis=0)
    hi = np.max([p.max(axis=0) for p in polys], axis=0)
    return math.floor(lo[0]), math.floor(lo[1]), math.ceil(hi[0]), math.ceil(hi[1])


@dataclass
class CroppedMask:
    x0: int  # global column of mask[:, 0]
    y0: int  # global row of mask[0, :]
    mask: np.ndarray  # bool, rows x cols
    area: int

    @property
    def x1(self) -> int:
        return self.x0 + self.mask.shape[1]

    @property
    def y1(self) -> int:
        return self.y0 + self.mask.shape[0]


def rasterize(polygon: np.ndarray, canvas: Canvas) -> CroppedMask:
    """Mask of a polygon clipped to the canvas, stored in the polygon's pixel bounding box."""
    cx0, cy0, cx1, cy1 = canvas
    p = np.asarray(polygon, dtype=np.float64)
    x0 = max(math.floor(p[:, 0].min()), cx0)
    y0 = max(math.floor(p[:, 1].min()), cy0)
    x1 = min(math.ceil(p[:, 0].max()), cx1)
    y1 = min(math.ceil(p[:, 1].max()), cy1)
    if x1 <= x0 or y1 <= y0:
        return CroppedMask(cx0, cy0, np.zeros((0, 0), dtype=bool), 0)
    # Integer shifts keep pixel centres on the same points of the polygon.
    mask = polygon_to_mask(p - np.array([x0, y0], dtype=np.float64), (y1 - y0, x1 - x0))
    return CroppedMask(x0, y0, mask, int(mask.sum()))


def rasterize_all(polygons: Sequence[np.ndarray], canvas: Canvas) -> list[CroppedMask]:
    return [rasterize(p, canvas) for p in polygons]


def intersection_matrix(a: Sequence[CroppedMask], b: Sequence[CroppedMask]) -> np.ndarray:
    """Pixel counts |a_i & b_j| (len(a) x len(b)), looking only at overlapping windows."""
    out = np.zeros((len(a), len(b)), dtype=np.int64)
    if not a or not b:
        return out
    ax = np.array([[m.x0, m.y0, m.x1, m.y1] for m in a])
    bx = np.array([[m.x0, m.y0, m.x1, m.y1] for m in b])
    overlap = ((ax[:, None, 0] < bx[None, :, 2]) & (bx[None, :, 0] < ax[:, None, 2])
               & (ax[:, None, 1] < bx[None, :, 3]) & (bx[None, :, 1] < ax[:, None, 3]))
    for i, j in zip(*np.nonzero(overlap)):
        ma, mb = a[i], b[j]
        if ma.area == 0 or mb.area == 0:
            continue
        x0, y0 = max(ma.x0, mb.x0), max(ma.y0, mb.y0)
        x1, y1 = min(ma.x1, mb.x1), min(ma.y1, mb.y1)
        wa = ma.mask[y0 - ma.y0:y1 - ma.y0, x0 - ma.x0:x1 - ma.x0]
        wb = mb.mask[y0 - mb.y0:y1 - mb.y0, x0 - mb.x0:x1 - mb.x0]
        out[i, j] = int(np.count_nonzero(wa & wb))
    return out


def areas(masks: Sequence[CroppedMask]) -> np.ndarray:
    return np.array([m.area for m in masks], dtype=np.int64)


def iou_from_intersections(inter: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> np.ndarray:
    """IoU matrix from intersection counts and areas (0 where the union is empty)."""
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def bounding_canvas(masks: Sequence[CroppedMask]) -> Canvas:
    """The smallest canvas holding every non-empty mask ((0, 0, 0, 0) when there is none)."""
    boxes = [(m.x0, m.y0, m.x1, m.y1) for m in masks if m.area]
    if not boxes:
        return 0, 0, 0, 0
    b = np.array(boxes)
    return int(b[:, 0].min()), int(b[:, 1].min()), int(b[:, 2].max()), int(b[:, 3].max())


def coverage_count(masks: Sequence[CroppedMask], canvas: Canvas) -> np.ndarray:
    """How many instances cover each pixel of the canvas (uint16, rows x cols of the canvas).

    The canvas must contain every non-empty mask (see :func:`bounding_canvas`).
    """
    cx0, cy0, cx1, cy1 = canvas
    count = np.zeros((max(cy1 - cy0, 0), max(cx1 - cx0, 0)), dtype=np.uint16)
    for m in masks:
        if m.area:
            count[m.y0 - cy0:m.y1 - cy0, m.x0 - cx0:m.x1 - cx0] += m.mask
    return count
