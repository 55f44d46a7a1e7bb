"""Images from other microscopes made to look like the bright-field cells every model learned from.

All training data is bright-field G-banding from one lab: dark chromosomes on an evenly lit,
light slide, grey levels spanning most of the 8-bit range. Three things other labs' images do
differently throw the networks off (benchmarks/bench_image_styles.py measures them), and each is
undone here, but only where it is clearly present, so that an image like the training data
reaches the networks exactly as recorded:

- **Polarity.** Fluorescence images (DAPI or Q-banded metaphases, which FISH labs karyotype as
  "inverted DAPI") and some camera exports show bright chromosomes on a dark slide; read as they
  are, the detector finds nothing. The slide covers most of a metaphase image, so its median
  pixel is slide: near the light end of the image's range in bright field, near the dark end in
  fluorescence. An image whose median lies at least ``CLEAR_RATIO`` times further from the light
  end than from the dark one is turned into its negative.
- **Uneven illumination** (vignetting, an off-centre lamp): the slide's light is fitted
  (:func:`slide_light`) and divided out where its darkest part gets less than
  ``EVEN_LIGHT_AT_LEAST`` of its brightest (the 3744 training-split cells: 0.99 typically, 0.76 at the least).
- **Low contrast** (a pale stain, a flat camera curve): an 8-bit image whose grey levels (0.5th to
  99.5th percentile) span fewer than ``NARROW_RANGE`` levels (the training cells: 103 at least,
  173 typically) is stretched to the training cells' typical span, ``STRETCH_TO``.

Each step leaves its own output alone, so :func:`as_bright_field` may be reached twice on one
image (the pipeline's entry, then a detector's input conversion): the second time costs its
checks again (a slide fit and two percentile passes, 10-25 ms), nothing else.

The slide fit here is not ``classic.background.illumination`` (the classifier's darkness crops):
that one fits pixels and takes large nuclei for dim slide in crowded fields, where dividing it out
bleaches the chromosomes away (BENCHMARKS.md, "Default model on other microscopes' images"); this
one fits the brightest pixels of each block of the image, which are slide wherever any slide
shows, and drops blocks darker than the fit (a nucleus covering a whole block). The darkness crops
keep their own fit, as the classifier learned from it.
"""

from __future__ import annotations

import cv2
import numpy as np

from karyostudio.models.classic.background import quadratic_design

CLEAR_RATIO = 2.0  # how much further the median must lie from the light end than from the dark one
EVEN_LIGHT_AT_LEAST = 0.7  # darkest / brightest fitted slide light below which it is evened out
NARROW_RANGE = 90  # 8-bit images spanning fewer grey levels than this are stretched ...
STRETCH_TO = (80.0, 250.0)  # ... to this span (about the training cells' median 0.5th / 99.5th percentiles)
_MAX_SAMPLE_PIXELS = 250_000  # statistics are taken on a regular subsample of larger images
_GRID = 12  # blocks along the short side for the slide fit
_SLIDE_PERCENTILE = 95  # a block's slide level: slide wherever at least 5 % of the block is slide
_FIT_ROUNDS, _DARKER_THAN_FIT_SIGMAS = 4, 2.5


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


def slide_light(image: np.ndarray) -> np.ndarray:
    """The slide's illumination over a 2-D image (float32, same shape): a quadratic in log
    brightness fitted to each block's bright percentile, blocks darker than the fit dropped."""
    image = np.asarray(image)
    sample = _sample(image)  # the light varies slowly: blocks of the subsample, the surface on its grid
    h, w = sample.shape
    rows = np.linspace(0, h, min(h, _GRID if h <= w else round(_GRID * h / w)) + 1).astype(int)
    cols = np.linspace(0, w, min(w, _GRID if w <= h else round(_GRID * w / h)) + 1).astype(int)
    level = np.array([[np.percentile(sample[r0:r1, c0:c1], _SLIDE_PERCENTILE) for c0, c1 in zip(cols, cols[1:])]
                      for r0, r1 in zip(rows, rows[1:])], dtype=np.float64) + 1.0  # +1: log of black
    cy, cx = (rows[:-1] + rows[1:]) / (2 * h) - 0.5, (cols[:-1] + cols[1:]) / (2 * w) - 0.5
    design = quadratic_design(*[g.ravel() for g in np.meshgrid(cx, cy)])
    logs = np.log(level.ravel())
    keep = logs >= np.median(logs)  # start from the brighter half: the slide covers most of a metaphase image
    if np.count_nonzero(keep) < 2 * design.shape[1]:  # too few blocks to fit a surface: call the light even
        return np.full(image.shape, float(level.max()), dtype=np.float32)
    for _ in range(_FIT_ROUNDS):
        if np.count_nonzero(keep) < design.shape[1]:
            break
        coef, *_ = np.linalg.lstsq(design[keep], logs[keep], rcond=None)
        residual = logs - design @ coef
        spread = 1.4826 * float(np.median(np.abs(residual[keep]))) + 1e-4
        keep = residual > -_DARKER_THAN_FIT_SIGMAS * spread
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    surface = np.exp(quadratic_design((xx + 0.5) / w - 0.5, (yy + 0.5) / h - 0.5) @ coef.astype(np.float32))
    full_h, full_w = image.shape
    return cv2.resize(surface.astype(np.float32), (full_w, full_h), interpolation=cv2.INTER_LINEAR)


def evenly_lit(image: np.ndarray) -> np.ndarray:
    """The image with clearly uneven illumination divided out (same dtype), else the image itself."""
    image = np.asarray(image)
    light = slide_light(image)
    if light.min() >= EVEN_LIGHT_AT_LEAST * light.max():
        return image
    even = image.astype(np.float32) * (light.max() / light)
    if np.issubdtype(image.dtype, np.integer):
        return np.clip(np.rint(even), 0, np.iinfo(image.dtype).max).astype(image.dtype)
    return even.astype(image.dtype)


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
    """The image as the models expect it: dark on light, evenly lit, in full contrast (see the module docstring)."""
    return full_contrast(evenly_lit(dark_on_light(image)))
