"""Bright-field exposure: optical density -> 8-bit image through uneven light, blur, noise, JPEG."""

from __future__ import annotations

import cv2
import numpy as np

from karyostudio.synth.clutter import smooth_noise
from karyostudio.synth.style import CellStyle


def illumination(rng: np.random.Generator, shape: tuple[int, int], style: CellStyle) -> np.ndarray:
    """Light reaching each pixel with no specimen: a level with slow gradients and mild vignetting."""
    h, w = shape
    field = smooth_noise(rng, shape, max(h, w) / 3.0)
    yy, xx = np.ogrid[0:h, 0:w]
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / float(max(h, w) ** 2)
    vignette = 1.0 - rng.uniform(0.0, 0.12) * r2
    return (style.background * (1.0 + style.illumination * field) * vignette).astype(np.float32)


def expose(rng: np.random.Generator, od: np.ndarray, style: CellStyle) -> np.ndarray:
    """The uint8 image a camera records of a specimen with this optical density."""
    light = illumination(rng, od.shape, style) * np.exp(-od)
    light = cv2.GaussianBlur(light, (0, 0), style.optical_blur)
    noise_sd = np.sqrt(np.maximum(light, 0.0) * style.shot_gain + style.read_noise ** 2)
    light += noise_sd * rng.standard_normal(od.shape, dtype=np.float32)
    image = np.clip(np.rint(light), 0, 255).astype(np.uint8)
    if style.jpeg_quality is not None:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, style.jpeg_quality])
        if ok:
            image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return image
