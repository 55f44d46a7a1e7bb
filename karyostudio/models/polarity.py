"""Which way round an image's contrast runs, and the dark-on-light version every model reads.

Every model here learned from bright-field G-banded cells: dark chromosomes on a light slide.
Fluorescence images (DAPI or Q-banded metaphases, which FISH labs karyotype as "inverted DAPI")
and some camera exports are the other way round, bright chromosomes on a dark slide; read as
they are, the detector finds nothing in them. The slide covers most of a metaphase image, so
its median pixel is slide: in a bright-field image it lies near the light end of the image's
range, in a fluorescence image near the dark end. Only clear cases are inverted (the median at
least twice as far from one end as from the other), so an odd or tightly cropped image is left
as it is rather than turned into a negative by mistake.
"""

from __future__ import annotations

import numpy as np

CLEAR_RATIO = 2.0  # how much further the median must lie from the light end than from the dark one
_MAX_SAMPLE_PIXELS = 250_000  # the percentiles are taken on a regular subsample of larger images


def is_bright_on_dark(image: np.ndarray) -> bool:
    """True when a 2-D grayscale image clearly shows bright objects on a dark background."""
    image = np.asarray(image)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    step = max(1, int(np.ceil(np.sqrt(image.size / _MAX_SAMPLE_PIXELS))))
    low, median, high = np.percentile(image[::step, ::step], [1, 50, 99])
    return bool(high - median > CLEAR_RATIO * (median - low) and high > low)


def dark_on_light(image: np.ndarray) -> np.ndarray:
    """The image with dark objects on a light background: its negative (same dtype; integer
    images as dtype maximum - value, so a negative's negative is the original exactly, floats
    within their own range) when it is bright on dark (:func:`is_bright_on_dark`), else the image
    itself."""
    image = np.asarray(image)
    if not is_bright_on_dark(image):
        return image
    if np.issubdtype(image.dtype, np.unsignedinteger):
        return np.iinfo(image.dtype).max - image
    return (image.min() + image.max() - image).astype(image.dtype)
