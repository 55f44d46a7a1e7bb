"""Final outlines: grow each piece into its blurred rim, without overlapping its neighbours.

The foreground cut sits about half way up a chromosome's blurred edge, so the thresholded shape
is thinner than the chromosome a person sees and outlines: boxes drawn by people around
Taichung chromosomes are about 8 pixels longer and wider than the half-way outline. Each piece
is therefore grown by a margin (a fraction of the chromosome width) into pixels that are still
visibly dark; where two pieces compete for a pixel the nearer one takes it.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from karyostudio.core.progress import CancelToken, check
from karyostudio.geometry.polygons import mask_to_polygon
from karyostudio.geometry.rotated import rotated_box_from_polygon


def _dist_to(mask: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the nearest pixel of ``mask`` (inf-like when mask is empty)."""
    if not mask.any():
        return np.full(mask.shape, np.float32(1e9))
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def grow_pieces(labels: np.ndarray, count: int, dark: np.ndarray, margin: float,
                min_darkness: float, cancel: CancelToken | None = None) -> list[tuple[np.ndarray, int, int]]:
    """Each labelled piece (1..count) grown by up to ``margin`` pixels into pixels darker than
    ``min_darkness`` that are nearer to it than to any other piece.

    Returns one (window mask, x0, y0) per label, in label order.
    """
    h, w = labels.shape
    pad = int(np.ceil(margin)) + 1
    boxes = _label_boxes(labels, count)
    out = []
    for k in range(1, count + 1):
        if k % 64 == 0:
            check(cancel)
        x0, y0, x1, y1 = boxes[k]
        x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
        win = labels[y0:y1, x0:x1]
        own = win == k
        if margin > 0:
            d_own = _dist_to(own)
            d_other = _dist_to((win > 0) & ~own)
            grow = (win == 0) & (d_own <= margin) & (d_own < d_other) & (dark[y0:y1, x0:x1] > min_darkness)
            own = own | grow
        out.append((own, x0, y0))
    return out


def _label_boxes(labels: np.ndarray, count: int) -> np.ndarray:
    """(x0, y0, x1, y1) per label (row k for label k), end-exclusive."""
    boxes = np.zeros((count + 1, 4), dtype=np.int64)
    for k, sl in enumerate(ndimage.find_objects(labels, max_label=count), start=1):
        if sl is not None:
            boxes[k] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    return boxes


def outline(mask: np.ndarray, x0: int, y0: int) -> np.ndarray | None:
    """Pixel-edge outline of the largest part of a window mask, in image coordinates."""
    poly = mask_to_polygon(mask)
    return None if poly is None else poly + np.array([x0, y0], dtype=np.float64)


def rotated_box(polygon: np.ndarray) -> list[float]:
    """[cx, cy, w, h, theta_deg] of the outline's minimum-area rectangle (cv2.minAreaRect).

    Convention of karyostudio.geometry.rotated: h >= w (h runs along the chromosome), theta in
    [0, 180) degrees is the clockwise on-screen (y down) rotation of the upright box, so the
    w side runs along (cos theta, sin theta) and the h side along (-sin theta, cos theta).
    """
    return [float(v) for v in rotated_box_from_polygon(polygon)]
