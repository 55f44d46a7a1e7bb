"""Scale estimate and per-component shape measurements for classic segmentation.

Every size threshold of the classic segmenter is expressed in units of the cell's chromosome
width, estimated here from the foreground mask itself, so one parameter set serves small and
large images alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from karyostudio.core.progress import CancelToken, check

# Widths outside this range (pixels) mean the estimate saw no chromosomes; fall back to the
# middle of what bright-field metaphase images at usual magnifications show.
_MIN_WIDTH, _MAX_WIDTH, _FALLBACK_WIDTH = 3.0, 60.0, 12.0


def distance_map(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance of each foreground pixel centre to the nearest background pixel centre."""
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def ridge_mask(dist: np.ndarray) -> np.ndarray:
    """Local maxima of the distance map: the medial ridge of every object."""
    peak = cv2.dilate(dist, np.ones((3, 3), np.uint8))
    return (dist >= peak) & (dist > 0)


def estimate_width(labels: np.ndarray, stats: np.ndarray, dist: np.ndarray, min_area: float) -> float:
    """Typical chromosome width (pixels) from the medial ridge of the foreground.

    The median is taken over ridge pixels rather than over components: chromosomes contribute
    long ridges, specks of debris tiny ones, and a round nucleus a ridge that is short for its
    area. A ridge distance d (pixel centre to the nearest background centre) means a width of
    about 2 d - 1 pixels.
    """
    ridge = ridge_mask(dist) & (stats[labels, cv2.CC_STAT_AREA] >= min_area)
    if not ridge.any():
        return _FALLBACK_WIDTH
    width = 2.0 * float(np.median(dist[ridge])) - 1.0
    return width if _MIN_WIDTH <= width <= _MAX_WIDTH else _FALLBACK_WIDTH


@dataclass(frozen=True)
class Component:
    """One connected foreground component, measured inside its bounding window."""

    label: int
    x0: int
    y0: int
    mask: np.ndarray  # bool, window-sized
    area: int
    thickness: float  # largest inscribed radius (distance-map maximum)
    darkness: float  # mean darkness
    solidity: float  # area / convex hull area
    border_contact: int  # pixels of the component on the image border


def measure_components(labels: np.ndarray, stats: np.ndarray, dist: np.ndarray, dark: np.ndarray,
                       which: np.ndarray, cancel: CancelToken | None = None) -> list[Component]:
    """Measure the components whose label indices are listed in ``which``."""
    h, w = labels.shape
    out = []
    for n, k in enumerate(which):
        if n % 64 == 0:
            check(cancel)
        x, y, bw, bh, area = (int(v) for v in stats[k])
        win = np.s_[y:y + bh, x:x + bw]
        mask = labels[win] == k
        out.append(Component(
            label=int(k), x0=x, y0=y, mask=mask, area=area,
            thickness=float(dist[win][mask].max()),
            darkness=float(dark[win][mask].mean()),
            solidity=solidity(outline_points(mask), area),
            border_contact=_border_contact(mask, x, y, w, h),
        ))
    return out


def outline_points(mask: np.ndarray) -> np.ndarray:
    """Outer contour points (N x 2, x/y) of all parts of a mask."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return np.concatenate(contours).reshape(-1, 2)


def solidity(points: np.ndarray, area: float) -> float:
    """Pixel area over the area of the convex hull of the contour points (pixel centres), with
    half the hull perimeter added so that a filled convex pixel shape scores about 1."""
    hull = cv2.convexHull(points)
    return float(min(1.0, area / (cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0)))


def _border_contact(mask: np.ndarray, x: int, y: int, w: int, h: int) -> int:
    """Number of the window mask's pixels that lie on the image border."""
    bh, bw = mask.shape
    n = 0
    if y == 0:
        n += int(mask[0].sum())
    if y + bh == h:
        n += int(mask[-1].sum())
    if x == 0:
        n += int(mask[:, 0].sum())
    if x + bw == w:
        n += int(mask[:, -1].sum())
    return n
