"""Per-cell appearance: scale, staining, crowding, optics. Drawn once per synthetic metaphase.

Numbers were matched to the Taichung metaphases (grayscale, ~430-1360 px a side): chromosome 1
is about 150 px long (median axis-aligned box side 140 px, diagonal 167 px) and chromosomes
are about 20 px wide; the empty background is 225-255 (often saturated), the darkest bands
50-90; interphase nuclei are medium-grey disks 1-1.7 chromosome-1 lengths across.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Real metaphases: chromosome 1 length and chromosome width (px) at the microscope's scale.
REAL_CHR1_LENGTH = 160.0
REAL_WIDTH = 20.0
# Images at least this large are drawn at the real scale; smaller ones are scaled down with it.
REAL_SCALE_MIN_SIZE = 800


@dataclass(frozen=True)
class CellStyle:
    chr1_length: float  # px, before per-chromosome jitter
    width: float  # px, chromosome 1's width; smaller chromosomes are a little thinner
    blur_mb: float  # band smoothing along the chromosome (Mb), sets the band resolution look
    od_light: float  # optical density of pale (gneg) bands on the axis
    od_dark: float  # optical density of the darkest (gpos100) bands
    gvar_darkness: float  # mean darkness of variable heterochromatin in this person
    groove: float  # visibility of the groove between sister chromatids along the arms
    bend_scale: float  # multiplies every bend of this cell
    fill: float  # share of the spread's ellipse covered by chromosomes
    gap: int  # px kept free between chromosomes that are not meant to touch
    clusters_mean: float  # mean number of planned touching/crossing groups
    background: float  # grey level of the empty, evenly lit background (above 255 saturates)
    illumination: float  # relative amplitude of uneven illumination
    optical_blur: float  # Gaussian sigma (px) of the microscope blur
    sharpen: float  # unsharp-mask amount applied after the blur (0: none)
    sharpen_sigma: float  # px
    read_noise: float  # grey levels
    shot_gain: float  # variance per grey level of signal (shot noise)
    jpeg_quality: int | None  # re-encode as JPEG at this quality (the real data is JPEG), or not
    debris_count: int
    nuclei_count: int
    chromatid_gap: float = 0.0  # share of the width open between sister chromatids along the arms


def base_scale(size: int) -> float:
    """Factor that shrinks chromosomes in images smaller than the real field of view."""
    return min(1.0, size / REAL_SCALE_MIN_SIZE)


def draw_cell_style(rng: np.random.Generator, *, size: int, chr1_length: float | None = None,
                    clusters_mean: float | None = None, clutter: bool = True,
                    jpeg_probability: float = 0.5) -> CellStyle:
    """Random appearance of one cell; chr1_length / clusters_mean fix those two when given."""
    scale = base_scale(size)
    if chr1_length is None:
        chr1_length = REAL_CHR1_LENGTH * scale * float(np.clip(rng.normal(1.0, 0.13), 0.7, 1.35))
    # More condensed (shorter) chromosomes are thicker.
    width = REAL_WIDTH * scale * (chr1_length / (REAL_CHR1_LENGTH * scale)) ** -0.5 * rng.uniform(0.9, 1.1)
    od_light = rng.uniform(0.3, 0.6)
    return CellStyle(
        chr1_length=float(chr1_length),
        width=float(width),
        blur_mb=rng.uniform(3.0, 5.0),
        od_light=od_light,
        od_dark=od_light + rng.uniform(0.6, 1.1),
        gvar_darkness=rng.uniform(0.35, 0.9),
        groove=rng.uniform(0.3, 0.65),
        bend_scale=rng.uniform(0.4, 1.0) * (chr1_length / (REAL_CHR1_LENGTH * scale)) ** 1.5,  # long ones coil
        fill=rng.uniform(0.25, 0.45),
        gap=int(rng.integers(1, 5)),
        clusters_mean=float(clusters_mean) if clusters_mean is not None else rng.uniform(1.0, 5.0),
        background=rng.uniform(228, 272),
        illumination=rng.uniform(0.01, 0.04),
        optical_blur=rng.uniform(0.7, 1.8) * max(scale, 0.5),
        sharpen=rng.uniform(0.3, 1.5) if rng.random() < 0.6 else 0.0,
        sharpen_sigma=rng.uniform(1.5, 3.0) * max(scale, 0.5),
        read_noise=rng.uniform(0.8, 2.5),
        shot_gain=rng.uniform(0.01, 0.05),
        jpeg_quality=int(rng.integers(70, 96)) if rng.random() < jpeg_probability else None,
        debris_count=int(rng.choice([rng.integers(0, 15), rng.integers(15, 120)], p=[0.6, 0.4])) if clutter else 0,
        nuclei_count=int(rng.choice([0, 1, 2, 3], p=[0.3, 0.35, 0.25, 0.1])) if clutter else 0,
    )
