"""Foreground mask from the darkness map: Otsu level, hysteresis, small-hole filling.

The cut sits at Otsu's level of the darkness map, about half way up a chromosome's blurred
edge, which keeps the narrow pale gaps between touching chromosomes open (a lower cut merges
neighbours, and merges cost far more than the slightly thin outlines, which are grown back at
the end). Hysteresis then keeps only objects that somewhere reach clearly darker than the cut
(``high_factor``), which drops faint smudges of the slide.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.filters import threshold_otsu


def otsu_level(dark: np.ndarray, floor: float) -> float:
    """Otsu's cut between slide and objects, never below ``floor`` (for nearly empty images)."""
    if float(dark.max()) - float(dark.min()) < 1e-6:
        return max(floor, float(dark.max()) + 1.0)  # a flat image has no objects
    return max(floor, float(threshold_otsu(dark)))


def hysteresis(dark: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels above ``low`` whose 8-connected component reaches above ``high``."""
    weak = (dark > low).astype(np.uint8)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    if n <= 1:
        return np.zeros(dark.shape, dtype=bool)
    strong_labels = np.unique(labels[dark > high])
    keep = np.zeros(n, dtype=bool)
    keep[strong_labels] = True
    keep[0] = False
    return keep[labels]


def holes(mask: np.ndarray) -> np.ndarray:
    """Background pixels not 4-connected to the outside of the mask (flood fill from the rim)."""
    outside = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    ff = np.zeros((outside.shape[0] + 2, outside.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, ff, (0, 0), 2, flags=4)
    return (outside == 1)[1:-1, 1:-1]


def fill_small_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Fill background holes up to ``max_area`` pixels.

    Small holes are pale chromatid centres; large ones are the slide seen through a loop
    of touching chromosomes and must stay open.
    """
    inner = holes(mask)
    if not inner.any():
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inner.astype(np.uint8), connectivity=4)
    small = np.zeros(n, dtype=bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] <= max_area
    return mask | small[labels]
