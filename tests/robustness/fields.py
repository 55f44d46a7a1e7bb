"""Synthetic stand-ins for the fields that made the default model hang: debris and huge cells."""

from __future__ import annotations

import cv2
import numpy as np


def speck_field(n: int, *, side: int, seed: int = 0, elongated: bool = False) -> np.ndarray:
    """A light slide with ``n`` small dark specks (debris), or rod-shaped objects when ``elongated``."""
    rng = np.random.default_rng(seed)
    image = np.full((side, side), 215, np.uint8)
    for _ in range(n):
        x, y = (int(v) for v in rng.integers(12, side - 12, 2))
        if elongated:
            axes = (int(rng.uniform(3, 5)), int(rng.uniform(9, 16)))
        else:
            axes = (int(rng.uniform(3, 9)), int(rng.uniform(3, 6)))
        cv2.ellipse(image, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, int(rng.integers(40, 120)), -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.2)
    return np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)


def debris_field() -> np.ndarray:
    """About 900 specks on a 1600 x 1600 field: no metaphase at all."""
    return speck_field(1000, side=1600, seed=0)


def crowded_cell() -> np.ndarray:
    """About 2,000 rod-shaped objects on a 2600 x 2600 field."""
    return speck_field(2300, side=2600, seed=1, elongated=True)
