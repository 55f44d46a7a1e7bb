"""Images from other microscopes made to look like the bright-field cells every model learned from.

All training data is bright-field G-banding from one lab: dark chromosomes on an evenly lit,
light slide, grey levels spanning most of the 8-bit range. Two things other labs' images do
differently throw the networks off (benchmarks/bench_image_styles.py measures them), and each is
undone here, but only where it is clearly present, so that an image like the training data
reaches the networks exactly as recorded:

- **Polarity.** Fluorescence images (DAPI or Q-banded metaphases, which FISH labs karyotype as
  "inverted DAPI") and some camera exports show bright chromosomes on a dark slide; read as they
  are, the detector finds nothing. The slide covers most of a metaphase image, so its median
  pixel is slide: near the light end of the image's range in bright field, near the dark end in
  fluorescence. An image whose median lies at least ``CLEAR_RATIO`` times further from the light
  end than from the dark one is turned into its negative.
- **Low contrast** (a pale stain, a flat camera curve): an 8-bit image whose grey levels (0.5th to
  99.5th percentile) span fewer than ``NARROW_RANGE`` levels (the training cells: 103 at least,
  173 typically) is stretched to the training cells' typical span, ``STRETCH_TO``.

Each step leaves its own output alone, so :func:`as_bright_field` may be reached twice on one
image (the pipeline's entry, then a detector's input conversion) at no more cost than a check.

Uneven illumination (vignetting) costs chromosomes too, but is not evened out here: the smooth
slide fit of ``classic.background.illumination`` takes large nuclei for dim slide in crowded
fields, and dividing it out there bleaches the chromosomes away (BENCHMARKS.md, "Default model on
other microscopes' images").
"""

from __future__ import annotations

import numpy as np

CLEAR_RATIO = 2.0  # how much further the median must lie from the light end than from the dark one
NARROW_RANGE = 90  # 8-bit images spanning fewer grey levels than this are stretched ...
STRETCH_TO = (80.0, 250.0)  # ... to this span (the training cells' median 0.5th / 99.5th percentiles)
_MAX_SAMPLE_PIXELS = 250_000  # percentiles are taken on a regular subsample of larger images


def _sample(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    step = max(1, int(np.ceil(np.sqrt(image.size / _MAX_SAMPLE_PIXELS))))
    return image[::step, ::step]


def is_bright_on_dark(image: np.ndarray) -> bool:
    """True when a 2-D grayscale image clearly shows bright objects on a dark background."""
    low, median, high = np.percentile(_sample(image), [1, 50, 99])
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


def full_contrast(image: np.ndarray) -> np.ndarray:
    """An 8-bit image with a clearly narrow grey range stretched to ``STRETCH_TO``, else the image itself."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        return image  # deeper images are stretched to their own range on their way to 8 bits
    low, high = np.percentile(_sample(image), [0.5, 99.5])
    if high - low >= NARROW_RANGE or high <= low:
        return image
    target_low, target_high = STRETCH_TO
    stretched = target_low + (image.astype(np.float32) - low) * ((target_high - target_low) / (high - low))
    return np.clip(np.rint(stretched), 0, 255).astype(np.uint8)


def as_bright_field(image: np.ndarray) -> np.ndarray:
    """The image as the models expect it: dark on light, in full contrast (see the module docstring)."""
    return full_contrast(dark_on_light(image))
