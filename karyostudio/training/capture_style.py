"""A metaphase image as another capture system might have recorded it, for classifier training.

Clinical capture software rarely stores what the camera saw: it stretches the grey range until
the slide is white, bends the tone curve and sharpens ("enhance"), or the optics and camera blur
and add noise. The crop classifier reads band patterns, and its Y reading in particular dropped
on such images (BENCHMARKS.md, "classifier trained on capture styles too"). ``capture_style`` draws
one such recording at random; training crops each image once more in a drawn style.

What is drawn (each independently): a grey stretch (70 %: the 0-3rd percentile to black, the
80-99th to white, clipped), a tone curve (gamma 0.65-1.5, log-uniform), then either an unsharp
mask (45 %: sigma 1-3 px, amount 0.3-1.5) or a blur (25 %: sigma 0.6-1.5 px) or neither, and
sensor noise (30 %: sigma 1-6 grey levels). Compression, adaptive equalisation (CLAHE) and scale
are left out on purpose: the benchmark of image styles keeps them as styles no training saw.
"""

from __future__ import annotations

import cv2
import numpy as np

CAPTURE_STYLE_VERSION = 1  # part of the styled crops' cache key: change it when the draw changes


def capture_style(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (2-D uint8) re-recorded in a randomly drawn capture style (2-D uint8)."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"capture_style takes a 2-D uint8 image, got {image.dtype} {image.shape}")
    f = image.astype(np.float32)
    if rng.random() < 0.7:
        low, slide = np.percentile(f, [rng.uniform(0, 3), rng.uniform(80, 99)])
        f = np.clip((f - low) / max(float(slide - low), 1.0), 0, 1) * 255
    gamma = float(np.exp(rng.uniform(np.log(0.65), np.log(1.5))))
    f = (np.clip(f, 0, 255) / 255) ** gamma * 255
    detail = rng.random()
    if detail < 0.45:
        sigma, amount = rng.uniform(1, 3), rng.uniform(0.3, 1.5)
        f = f + amount * (f - cv2.GaussianBlur(f, (0, 0), sigma))
    elif detail < 0.7:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.6, 1.5))
    if rng.random() < 0.3:
        f = f + rng.normal(0, rng.uniform(1, 6), f.shape)
    return np.clip(np.round(f), 0, 255).astype(np.uint8)
