"""Display mapping of 8- and 16-bit grayscale images: black/white levels, gamma, invert.

Pure numpy: a lookup table over every possible input value (256 or 65536 entries) maps an
image to 8-bit display values in one indexing step, so moving a slider redraws quickly even
for large 16-bit images. The data itself is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

AUTO_LOW_PCT, AUTO_HIGH_PCT = 0.5, 99.5


@dataclass(frozen=True)
class DisplaySettings:
    """Input values <= low show black, >= high white; gamma < 1 brightens the mid-tones."""

    low: int
    high: int
    gamma: float = 1.0
    invert: bool = False

    def __post_init__(self) -> None:
        if self.high <= self.low:
            raise ValueError(f"high level must exceed low level, got {self.low}..{self.high}")
        if not 0.05 <= self.gamma <= 20.0:
            raise ValueError(f"gamma must lie in [0.05, 20], got {self.gamma}")

    def with_(self, **changes) -> "DisplaySettings":
        return replace(self, **changes)


def value_range(image: np.ndarray) -> int:
    """The largest value the image's type can hold (255 or 65535)."""
    return 255 if image.dtype == np.uint8 else 65535


def default_settings(image: np.ndarray) -> DisplaySettings:
    """8-bit images as they are; 16-bit images stretched between robust percentiles."""
    if image.dtype == np.uint8:
        return DisplaySettings(0, 255)
    return auto_settings(image)


def auto_settings(image: np.ndarray, low_pct: float = AUTO_LOW_PCT,
                  high_pct: float = AUTO_HIGH_PCT) -> DisplaySettings:
    """Levels at the given percentiles of the image's histogram."""
    counts = np.bincount(_as_index(image).ravel(), minlength=value_range(image) + 1)
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    low = int(np.searchsorted(cumulative, max(total * low_pct / 100.0, 1)))
    high = int(np.searchsorted(cumulative, max(total * high_pct / 100.0, 1)))
    return DisplaySettings(low, max(high, low + 1))


def display_lut(settings: DisplaySettings, maximum: int) -> np.ndarray:
    """uint8 lookup table with maximum + 1 entries."""
    levels = np.arange(maximum + 1, dtype=np.float64)
    scaled = np.clip((levels - settings.low) / float(settings.high - settings.low), 0.0, 1.0)
    if settings.gamma != 1.0:
        scaled = scaled ** settings.gamma
    if settings.invert:
        scaled = 1.0 - scaled
    return np.round(scaled * 255.0).astype(np.uint8)


def render_display(image: np.ndarray, settings: DisplaySettings) -> np.ndarray:
    """The 8-bit image to show (C-contiguous)."""
    return np.ascontiguousarray(display_lut(settings, value_range(image))[_as_index(image)])


def _as_index(image: np.ndarray) -> np.ndarray:
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected a uint8 or uint16 image, got {image.dtype}")
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    return image
