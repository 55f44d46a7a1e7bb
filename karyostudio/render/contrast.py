"""Contrast of the karyogram's cut-outs: stretched between the chromosomes' darkest bands and the slide.

A metaphase photographed in bright field shows chromosomes as mid-gray on a light gray slide;
cut out and put on white paper they look pale and their bands faint, and the slide pixels that
every outline includes at its rim show as a gray fringe. Cytogenetic software stretches the
gray levels for the karyogram, as the app's display does for the image: here the darkest
chromosome pixels (a low percentile over every chromosome) become black and the slide's own
level (the median outside the outlines) becomes white. The app's karyogram and the PNGs of
``karyostudio predict`` use the same levels, computed once per cell.
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.5  # of chromosome pixels, when no slide is visible
MIN_SPAN = 24  # levels closer than this leave the image as it is (nothing to stretch)
_MAX_SAMPLES = 400_000


def chromosome_levels(gray: np.ndarray, polygons: Iterable[np.ndarray]) -> tuple[int, int]:
    """(low, high) gray levels: the chromosomes' dark end and the slide's level."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 image, got {gray.dtype} {gray.shape}")
    mask = np.zeros(gray.shape, np.uint8)
    shapes = [np.round(np.asarray(p, dtype=np.float64)).astype(np.int32) for p in polygons]
    shapes = [s for s in shapes if len(s) >= 3]
    if not shapes:
        return 0, 255
    cv2.fillPoly(mask, shapes, 1)
    inside = _sample(gray[mask.astype(bool)])
    outside = _sample(gray[~mask.astype(bool)])
    if inside.size == 0:
        return 0, 255
    low = int(np.percentile(inside, LOW_PERCENTILE))
    high = int(np.median(outside)) if outside.size else int(np.percentile(inside, HIGH_PERCENTILE))
    if high - low < MIN_SPAN:
        return 0, 255
    return low, high


def stretch_lut(levels: tuple[int, int]) -> np.ndarray:
    """A 256-entry uint8 table mapping low to 0 and high (and above) to 255."""
    low, high = levels
    values = np.arange(256, dtype=np.float64)
    return np.round(np.clip((values - low) / max(high - low, 1), 0.0, 1.0) * 255.0).astype(np.uint8)


def _sample(values: np.ndarray) -> np.ndarray:
    if values.size > _MAX_SAMPLES:
        step = values.size // _MAX_SAMPLES + 1
        return values[::step]
    return values
