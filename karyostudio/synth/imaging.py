"""Bright-field exposure: optical density -> 8-bit image through uneven light, blur, noise, JPEG."""

from __future__ import annotations

import cv2
import numpy as np

from karyostudio.synth.clutter import smooth_noise
from karyostudio.synth.style import CellStyle


_COARSE = 16  # illumination has no detail finer than this many pixels


def illumination(rng: np.random.Generator, shape: tuple[int, int], style: CellStyle) -> np.ndarray:
    """Light reaching each pixel with no specimen: a level with slow gradients and mild vignetting."""
    h, w = shape
    gh, gw = h // _COARSE + 2, w // _COARSE + 2
    field = smooth_noise(rng, (gh, gw), max(gh, gw) / 3.0)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    cx, cy = rng.uniform(0.3, 0.7) * gw, rng.uniform(0.3, 0.7) * gh
    vignette = 1.0 - rng.uniform(0.0, 0.12) * ((xx - cx) ** 2 + (yy - cy) ** 2) / float(max(gh, gw) ** 2)
    coarse = (style.background * (1.0 + style.illumination * field) * vignette).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)


def expose(rng: np.random.Generator, od: np.ndarray, style: CellStyle) -> np.ndarray:
    """The uint8 image a camera records of a specimen with this optical density."""
    light = illumination(rng, od.shape, style) * np.exp(-od)
    light = cv2.GaussianBlur(light, (0, 0), style.optical_blur)
    if style.sharpen > 0:  # acquisition software often sharpens: dark rims, light halos
        light += style.sharpen * (light - cv2.GaussianBlur(light, (0, 0), style.sharpen_sigma))
    noise_sd = np.sqrt(np.maximum(light, 0.0) * style.shot_gain + style.read_noise ** 2)
    light += noise_sd * rng.standard_normal(od.shape, dtype=np.float32)
    image = np.clip(np.rint(light), 0, 255).astype(np.uint8)
    if style.jpeg_quality is not None:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, style.jpeg_quality])
        if ok:
            image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return image
