"""Illumination correction: turn a bright-field image into a darkness map (numpy + OpenCV).

Bright-field light is multiplicative: a pixel reads ``I = B(x, y) * T`` where B is the
illumination and T the transmittance of what lies there. The illumination of metaphase images
varies slowly (vignetting, uneven condenser), so it is modelled as the exponential of a
quadratic surface fitted to the log-intensity of the slide, with chromosomes, nuclei and debris
excluded by iterative robust reweighting. A quadratic cannot bend around a nucleus the way a
morphological closing would, so nuclei stay solid dark blobs that later shape tests can
recognise and drop.
"""

from __future__ import annotations

import cv2
import numpy as np

# The fit runs on a copy whose long side is about this many pixels: illumination is smooth.
_FIT_SIZE = 192
_FIT_ITERATIONS = 4
# Pixels darker than the fit by more than this many robust standard deviations are objects.
_OUTLIER_SIGMAS = 2.5


def quadratic_design(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """The terms of a quadratic surface in x and y (1, x, y, x², xy, y²), along a last axis."""
    return np.stack([np.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], axis=-1)


def illumination(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Estimated slide illumination (float32, same shape) and the slide's relative noise.

    The noise is the robust standard deviation of log-intensity about the fit, i.e. roughly the
    relative noise of the empty slide.
    """
    img = image.astype(np.float32) + 1.0  # +1 keeps log finite on black pixels
    h, w = img.shape
    scale = max(1.0, max(h, w) / _FIT_SIZE)
    sh, sw = max(2, int(round(h / scale))), max(2, int(round(w / scale)))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    a = quadratic_design((xx + 0.5) / sw - 0.5, (yy + 0.5) / sh - 0.5).reshape(-1, 6)
    logs = np.log(small).ravel()
    # Start from the brighter part: the slide covers most of a metaphase image.
    keep = logs >= np.percentile(logs, 30)
    coef = np.zeros(6, dtype=np.float64)
    sd = 0.0
    for _ in range(_FIT_ITERATIONS):
        if keep.sum() < 6:
            break
        coef, *_ = np.linalg.lstsq(a[keep], logs[keep], rcond=None)
        resid = logs - a @ coef
        sd = float(1.4826 * np.median(np.abs(resid[keep])))
        keep = resid > -_OUTLIER_SIGMAS * max(sd, 1e-4)
    # The surface is smooth, so evaluating it on the small grid and resizing is exact enough.
    surface = np.exp(a @ coef).reshape(sh, sw).astype(np.float32)
    return cv2.resize(surface, (w, h), interpolation=cv2.INTER_LINEAR), sd


def darkness_map(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Relative absorbance ``1 - I / B`` (0 on the empty slide, up to 1 for opaque objects).

    Returns the map (float32; slightly negative on bright specks) and the slide's relative noise.
    """
    bg, noise = illumination(image)
    dark = 1.0 - (image.astype(np.float32) + 1.0) / bg
    return dark, noise
