"""Image preparation shared by training and inference, so both feed the network the same pixels."""

from __future__ import annotations

import cv2
import numpy as np

from karyostudio.io.images import to_display_uint8
from karyostudio.models.bright_field import as_bright_field


def as_uint8(image: np.ndarray) -> np.ndarray:
    """A 2-D uint8 image as the networks learned from: first made like a bright-field training
    cell where it clearly is not one (a negative, low contrast: models/bright_field.py);
    uint8 then as is, other types (uint16 microscope images) stretched between their 0.5th and
    99.5th percentiles, as the viewer shows them."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    image = as_bright_field(image)
    if image.dtype == np.uint8:
        return image
    return to_display_uint8(image)


def resize_long_side(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[float, float]]:
    """(image scaled so its longer side is ``size`` px, (x scale, y scale) new/old).

    The two scales differ slightly because the new size is rounded to whole pixels; mapping
    points with them is exact (pixel edges land on pixel edges).
    """
    height, width = image.shape[:2]
    scale = size / max(height, width)
    if scale == 1.0:
        return image, (1.0, 1.0)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    # Area averaging when shrinking keeps thin bands; linear when enlarging.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    return resized, (new_w / width, new_h / height)
