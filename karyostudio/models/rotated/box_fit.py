"""Chromosome outlines inside boxes from the image alone (numpy + OpenCV; no torch).

Two uses share one recipe, "Otsu threshold inside the box, keep the component that spans it":
  - ground truth: an axis-aligned box (Pascal VOC, e.g. Taichung) -> the chromosome's rotated
    box (:func:`fit_rotated_box_in_box`);
  - predictions: a rotated box -> the chromosome's outline (:func:`outline_in_rotated_box`).

Chromosomes are darker than the background (bright-field G-banding). Otsu's level, computed
on a window around the box, splits the box region into dark and light; components are
8-connected. A neighbour reaching into the box only touches part of it, while the box's own
chromosome spans it, so a component "belongs" to the box when its extent covers at least
``min_span`` of the box along both axes (axis-aligned ground-truth boxes, which are loose) or
along the long axis (rotated boxes, which are tight); the largest such component wins.
Touching neighbours that merge with the chromosome inside the box make the result too large;
nothing here can separate them. benchmarks/rotated_gt_quality.py measures the fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from karyostudio.geometry.polygons import mask_to_polygons
from karyostudio.geometry.rotated import min_area_rect, normalize_rotated_boxes, rotated_box_corners

MIN_SPAN = 0.5  # a component must cover this fraction of the box along each axis (see rotated_gt_quality)
MIN_SIDE_PX = 3  # boxes thinner than this are left as they are
CONTEXT_PX = 8  # extra margin (beyond half the box) of the window Otsu's level is computed on

FIT_OK = "ok"
FIT_TOO_SMALL = "box-too-small"
FIT_FLAT = "no-contrast"
FIT_NO_COMPONENT = "no-spanning-component"
FIT_REASONS = (FIT_OK, FIT_TOO_SMALL, FIT_FLAT, FIT_NO_COMPONENT)


@dataclass(frozen=True)
class BoxFit:
    """The rotated box found for one axis-aligned box; ``reason`` says why when it failed.

    On failure ``rbox`` is the input box itself (theta 0 or 90), ``ok`` is False.
    """

    rbox: np.ndarray  # (5,) normalised (cx, cy, w, h, theta)
    ok: bool
    reason: str


def dark_foreground(region: np.ndarray, context: np.ndarray | None = None) -> np.ndarray | None:
    """Bool mask of the pixels of a uint8 region at or below Otsu's level, or None when flat.

    The level is computed on ``context`` (default: the region itself), a larger window around
    the region: a box that a chromosome fills almost entirely has too little background for
    Otsu, which would then split the dark bands from the pale ones. Small gaps left by pale
    bands are bridged: a pixel joins when its 3 x 3 closing does and it is dark itself or
    lies between dark pixels on both sides along a row or a column (a pale band), so the
    closing never grows a straight edge's staircase outline.
    """
    context = region if context is None else context
    if region.dtype != np.uint8 or context.dtype != np.uint8:
        raise TypeError(f"region must be uint8, got {region.dtype}")
    if region.size == 0 or int(context.max()) == int(context.min()):
        return None
    level, _ = cv2.threshold(np.ascontiguousarray(context), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    fg = region <= level
    closed = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)).astype(bool)
    padded = np.pad(fg, 1)
    between = (padded[1:-1, :-2] & padded[1:-1, 2:]) | (padded[:-2, 1:-1] & padded[2:, 1:-1])
    return fg | (closed & between)


def rotated_box_from_mask(mask: np.ndarray) -> np.ndarray:
    """Normalised minimum-area rotated box of a bool mask's pixels.

    The rectangle of the pixel centres, grown by half a pixel on every side: exact for
    axis-aligned shapes and unbiased for tilted ones, where the rectangle around whole pixel
    squares would be up to about a pixel too large on each side (the staircase corners).
    """
    rows, cols = np.nonzero(np.asarray(mask, dtype=bool))
    if len(rows) == 0:
        raise ValueError("cannot fit a rotated box to an empty mask")
    centres = np.column_stack([cols + 0.5, rows + 0.5])
    cx, cy, w, h, theta = min_area_rect(centres)
    return normalize_rotated_boxes([cx, cy, w + 1.0, h + 1.0, theta])


def _spanning_components(fg: np.ndarray, min_span: float) -> tuple[np.ndarray, np.ndarray]:
    """(labels image, ids of components spanning >= min_span of both axes, largest first)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    height, width = fg.shape
    ids = [k for k in range(1, count)
           if stats[k, cv2.CC_STAT_WIDTH] >= min_span * width and stats[k, cv2.CC_STAT_HEIGHT] >= min_span * height]
    ids.sort(key=lambda k: -stats[k, cv2.CC_STAT_AREA])
    return labels, np.array(ids, dtype=np.int64)


def axis_rotated_box(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """An axis-aligned box (x0, y0, x1, y1) as a normalised rotated box."""
    return normalize_rotated_boxes([(x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, 0.0), max(y1 - y0, 0.0), 0.0])


def fit_rotated_box_in_box(image: np.ndarray, box: tuple[float, float, float, float],
                           min_span: float = MIN_SPAN) -> BoxFit:
    """The rotated box of the chromosome inside an axis-aligned box (x0, y0, x1, y1) of a uint8 image."""
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grey image, got shape {image.shape}")
    x0, y0, x1, y1 = map(float, box)
    fallback = axis_rotated_box(x0, y0, x1, y1)
    c0, r0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
    c1, r1 = min(int(np.ceil(x1)), image.shape[1]), min(int(np.ceil(y1)), image.shape[0])
    if c1 - c0 < MIN_SIDE_PX or r1 - r0 < MIN_SIDE_PX:
        return BoxFit(fallback, False, FIT_TOO_SMALL)
    pad_x, pad_y = (c1 - c0 + 1) // 2 + CONTEXT_PX, (r1 - r0 + 1) // 2 + CONTEXT_PX
    context = image[max(r0 - pad_y, 0):r1 + pad_y, max(c0 - pad_x, 0):c1 + pad_x]
    fg = dark_foreground(image[r0:r1, c0:c1], context)
    if fg is None:
        return BoxFit(fallback, False, FIT_FLAT)
    labels, ids = _spanning_components(fg, min_span)
    if len(ids) == 0:
        return BoxFit(fallback, False, FIT_NO_COMPONENT)
    rbox = rotated_box_from_mask(labels == ids[0])
    rbox[:2] += (c0, r0)
    return BoxFit(rbox, True, FIT_OK)


def outline_in_rotated_box(image: np.ndarray, rbox: np.ndarray, min_span: float = MIN_SPAN) -> np.ndarray | None:
    """The outline (polygon, image pixels) of the chromosome along a rotated box, or None.

    The box is resampled upright (w along x, h along y) so "spanning" is measured along the
    box's own axes: the kept component must run along the long axis of the box, not merely
    touch it. The outline lies inside the box (rounded up to whole pixels).
    """
    cx, cy, w, h, theta = (float(v) for v in normalize_rotated_boxes(rbox))
    cols, rows = int(np.ceil(w)), int(np.ceil(h))
    if cols < MIN_SIDE_PX or rows < MIN_SIDE_PX:
        return None
    pad = cols // 2 + CONTEXT_PX  # background context around the box, along both box axes
    corners = rotated_box_corners(np.array([[cx, cy, cols + 2 * pad, rows + 2 * pad, theta]]))[0]
    # Map the upright patch's pixel-edge corners (0,0), (W,0), (W,H) onto the padded box corners;
    # warpAffine samples at pixel centres, hence the half-pixel shifts.
    src = np.float32([[0, 0], [cols + 2 * pad, 0], [cols + 2 * pad, rows + 2 * pad]])
    to_image = cv2.getAffineTransform(src, np.float32(corners[:3]))
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    to_image_px = np.vstack([to_image, [0, 0, 1]]) @ shift
    to_image_px[:2, 2] -= 0.5
    patch = cv2.warpAffine(np.ascontiguousarray(image), to_image_px[:2], (cols + 2 * pad, rows + 2 * pad),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    fg = dark_foreground(patch[pad:pad + rows, pad:pad + cols], patch)
    if fg is None:
        return None
    labels, ids = _spanning_components(fg, 0.0)
    along_axis = [k for k in ids if np.ptp(np.nonzero((labels == k).any(axis=1))[0]) + 1 >= min_span * rows]
    if not along_axis:
        return None
    polygons = mask_to_polygons(labels == along_axis[0], min_area=0.0)
    if not polygons:
        return None
    outline = polygons[0] + pad  # back to padded-patch coordinates
    return outline @ to_image[:, :2].T + to_image[:, 2]
