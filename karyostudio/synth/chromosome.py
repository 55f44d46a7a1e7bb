"""One G-banded chromosome: its shape along the axis and its rendering into a small patch.

A chromosome is described in arc-length coordinates: s runs along the centreline from the
p-arm end (s = 0) to the q-arm end (s = L), t across it. Profiles along s give the half
width (rounded blunt ends, centromere constriction, thin acrocentric stalks), the optical
density from the band pattern, and how visible the groove between the two sister
chromatids is (most at the ends, none at the centromere). Rendering maps every pixel of
the chromosome's bounding-box patch to (s, t) through its nearest centreline sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.synth.centreline import integrate_centreline, random_curvature
from karyostudio.synth.ideogram import ACROCENTRIC, Ideogram, darkness_profile
from karyostudio.synth.style import CellStyle

# Shape of the cross-section: optical path through a rounded rod, flatter than a circle.
_CROSS_EXPONENT = 4.0
# Relative strength of the grainy chromatin texture.
_TEXTURE_AMPLITUDE = 0.12
# Outline: vertex spacing along the sides (px), vertices per quarter of a round end, and the
# Douglas-Peucker tolerance (px) that then removes vertices on nearly straight runs.
_OUTLINE_STEP = 2.0
_CAP_VERTICES = 10
_SIMPLIFY_PX = 0.08
# Decimal places of polygon coordinates (the mask is rasterised from the rounded polygon).
POLYGON_DECIMALS = 2


@dataclass(frozen=True)
class ChromosomeSpec:
    """Profiles of one chromosome sampled at arc lengths s (0 = p end, L = q end)."""

    label: str
    s: np.ndarray
    body_half_width: np.ndarray  # half width before the ends are rounded
    cap_radius: float  # length (px) over which each end rounds off
    density: np.ndarray  # optical density on the axis (band pattern)
    groove: np.ndarray  # weight of the two-chromatid cross-section, 0..1
    kappa: np.ndarray  # centreline curvature, 1/px
    centromere_s: float
    texture: np.ndarray  # chromatin graininess: a row per profile sample, columns across (-1..1)
    gap: np.ndarray | None = None  # share of the width open between the sister chromatids (None: closed)

    @property
    def length(self) -> float:
        return float(self.s[-1])

    def half_width_at(self, s: np.ndarray) -> np.ndarray:
        """Half width at arc lengths s: 0 at and beyond both tips, exactly round at the ends."""
        return np.interp(s, self.s, self.body_half_width) * _end_cap(s, self.length, self.cap_radius)

    @property
    def half_width(self) -> np.ndarray:
        return self.half_width_at(self.s)


def _end_cap(s: np.ndarray, length: float, radius: float) -> np.ndarray:
    """Width factor that rounds both ends (a quarter ellipse of this radius along the axis); 0 outside."""
    e = np.clip(np.minimum(s, length - s) / radius, 0.0, 1.0)
    return np.sqrt(np.clip(1.0 - (1.0 - e) ** 2, 0.0, 1.0))


def _smoothed_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit standard deviation."""
    x = gaussian_filter1d(rng.normal(size=n), sigma, mode="nearest")
    return x / max(float(x.std()), 1e-9)


def _band_contrast(dark: np.ndarray) -> np.ndarray:
    """Steepen the smoothed band profile: G-bands look like blocks with soft edges, not ripples."""
    x = np.clip((dark - 0.04) / 0.8, 0.0, 1.0)
    return 0.5 * x + 0.5 * x * x * (3 - 2 * x)


def make_chromosome_spec(rng: np.random.Generator, label: str, ideogram: Ideogram, *, length: float,
                         width: float, style: CellStyle) -> ChromosomeSpec:
    """Random shape and banding of one chromosome of the given length and width (px)."""
    n = max(8, int(np.ceil(length)) + 1)  # about one sample per pixel
    s = np.linspace(0.0, length, n)
    hw0 = width / 2.0
    positions_bp = s / length * ideogram.length_bp
    centromere_s = ideogram.centromere_fraction * length

    per_px = (n - 1) / length  # profile samples per pixel (noise scales below are in px)
    factor = (1.0 + 0.04 * _smoothed_noise(rng, n, max(1.0, width / 2) * per_px)
              + 0.025 * _smoothed_noise(rng, n, 3.0 * per_px))
    factor *= 1.0 - rng.uniform(0.12, 0.28) * np.exp(-0.5 * ((s - centromere_s) / (0.3 * width)) ** 2)
    if label in ACROCENTRIC:
        thin = ideogram.stain_mask("stalk", positions_bp).astype(np.float64)
        factor *= 1.0 - 0.45 * gaussian_filter1d(thin, max(1.5, width / 6) * per_px, mode="nearest")

    gvar = float(np.clip(style.gvar_darkness + rng.normal(0, 0.1), 0.1, 1.0))
    dark = _band_contrast(darkness_profile(ideogram, n, blur_mb=style.blur_mb, gvar_darkness=gvar))
    jitter = 1.0 + 0.07 * _smoothed_noise(rng, n, 1.0 * per_px)
    density = (style.od_light + (style.od_dark - style.od_light) * dark) * jitter * rng.uniform(0.9, 1.1)

    ends = np.exp(-np.minimum(s, length - s) / (0.9 * width))
    groove = style.groove + (0.75 - style.groove) * ends
    groove *= 1.0 - np.exp(-0.5 * ((s - centromere_s) / (0.5 * width)) ** 2)

    # Separated sister chromatids stay joined at the centromere and part towards the ends.
    gap = (style.chromatid_gap * (1.0 - np.exp(-0.5 * ((s - centromere_s) / width) ** 2))
           if style.chromatid_gap > 0 else None)
    kappa = random_curvature(rng, s, half_width=hw0, centromere_s=centromere_s, bend_scale=style.bend_scale)
    texture = gaussian_filter(rng.normal(size=(n, max(3, int(np.ceil(width))))), 1.0)
    texture *= _TEXTURE_AMPLITUDE / max(float(texture.std()), 1e-9)
    return ChromosomeSpec(label=label, s=s, body_half_width=hw0 * factor, cap_radius=min(hw0, length / 2),
                          density=density, groove=groove, kappa=kappa, centromere_s=centromere_s,
                          texture=texture.astype(np.float32), gap=gap)


@dataclass(frozen=True)
class Rendering:
    """A chromosome drawn in image coordinates: patch arrays at (x0, y0) plus its geometry."""

    x0: int
    y0: int
    od: np.ndarray  # float32 optical density, patch-sized
    mask: np.ndarray  # bool; from the analytic shape until exact() rasterises the polygon
    s_map: np.ndarray  # float32 arc length of each patch pixel's nearest axis point
    polygon: np.ndarray  # outline, N x 2 (x, y)
    centreline: np.ndarray  # K x 2, p end first, at the spec's arc lengths

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape

    def translated(self, dx: int, dy: int) -> "Rendering":
        """The same rendering moved by whole pixels (patches are reused unchanged)."""
        shift = np.array([dx, dy], dtype=np.float64)
        return replace(self, x0=self.x0 + int(dx), y0=self.y0 + int(dy),
                       polygon=np.round(self.polygon + shift, POLYGON_DECIMALS), centreline=self.centreline + shift)

    def exact(self) -> "Rendering":
        """This rendering with its mask rasterised from the polygon (pixel centres inside).

        Drawing starts with the analytic shape (|t| < half width), which differs from the
        polygon's raster only in a few edge pixels; that is good enough to try positions,
        and the final position gets the exact mask that matches the written polygon.
        """
        h, w = self.mask.shape
        if self.x0 >= 0 and self.y0 >= 0:
            # In image coordinates, so that rounding matches polygon_to_mask on the whole image.
            mask = polygon_to_mask(self.polygon, (self.y0 + h, self.x0 + w))[self.y0:, self.x0:]
        else:
            mask = polygon_to_mask(self.polygon - np.array([self.x0, self.y0], dtype=np.float64), (h, w))
        return replace(self, mask=mask)


def pose(spec: ChromosomeSpec, heading: float) -> tuple[np.ndarray, np.ndarray]:
    """Centreline points and unit tangents for a chromosome starting at the origin with this heading."""
    return integrate_centreline(spec.s, spec.kappa, heading)


def outline_polygon(spec: ChromosomeSpec, points: np.ndarray, tangents: np.ndarray) -> np.ndarray:
    """Outline: both sides at +-half width along the normals, denser around the rounded ends."""
    length, cap = spec.length, spec.cap_radius
    ramp = cap * (1 - np.cos(np.linspace(0, np.pi / 2, _CAP_VERTICES)))  # even steps around the round end
    middle = np.linspace(cap, length - cap, max(2, int(np.ceil((length - 2 * cap) / _OUTLINE_STEP)) + 1))
    s_out = np.unique(np.concatenate([ramp, middle, length - ramp]))
    c = np.stack([np.interp(s_out, spec.s, points[:, 0]), np.interp(s_out, spec.s, points[:, 1])], axis=1)
    tx, ty = np.interp(s_out, spec.s, tangents[:, 0]), np.interp(s_out, spec.s, tangents[:, 1])
    norm = np.hypot(tx, ty)
    normal = np.stack([-ty / norm, tx / norm], axis=1)
    hw = spec.half_width_at(s_out)[:, None]
    # Each side runs tip to tip; dropping vertices on nearly straight runs keeps the files small
    # and keeps both tips (the mask is rasterised from the result, so nothing else changes).
    sides = [cv2.approxPolyDP(side.astype(np.float32).reshape(-1, 1, 2), _SIMPLIFY_PX, False).reshape(-1, 2)
             for side in (c + normal * hw, (c - normal * hw)[::-1])]
    poly = np.concatenate([np.concatenate([[c[0]], sides[0][1:-1], [c[-1]]]), sides[1][1:-1]])
    poly = np.round(poly, POLYGON_DECIMALS)
    keep = np.any(np.abs(poly - np.roll(poly, 1, axis=0)) > 0, axis=1)  # rounding may merge neighbours
    return poly[keep]


def render_chromosome(spec: ChromosomeSpec, heading: float, origin: tuple[float, float] = (0.0, 0.0)) -> Rendering:
    """Draw a chromosome with its p end at origin, pointing along heading (radians)."""
    points, tangents = pose(spec, heading)
    points = points + np.asarray(origin, dtype=np.float64)
    margin = float(spec.half_width.max()) + 2.0
    x0, y0 = int(np.floor(points[:, 0].min() - margin)), int(np.floor(points[:, 1].min() - margin))
    x1, y1 = int(np.ceil(points[:, 0].max() + margin)), int(np.ceil(points[:, 1].max() + margin))
    shape = (y1 - y0, x1 - x0)

    # Nearest centreline sample of every pixel: one distance transform with per-seed labels.
    seeds = np.ones(shape, np.uint8)
    ix = np.floor(points[:, 0] - x0).astype(np.intp)
    iy = np.floor(points[:, 1] - y0).astype(np.intp)
    seeds[iy, ix] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    lookup = np.zeros(int(labels.max()) + 1, dtype=np.intp)
    lookup[labels[iy, ix]] = np.arange(len(points))
    k = lookup[labels]

    dx = (np.arange(shape[1], dtype=np.float64) + x0 + 0.5)[None, :] - points[k, 0]
    dy = (np.arange(shape[0], dtype=np.float64) + y0 + 0.5)[:, None] - points[k, 1]
    s = spec.s[k] + dx * tangents[k, 0] + dy * tangents[k, 1]
    t = dy * tangents[k, 0] - dx * tangents[k, 1]
    body = np.interp(s, spec.s, spec.body_half_width)
    # Elliptic radius: |t| / half width along the arms, measured from the cap's centre at the ends,
    # so that density fades towards the rim all round a rounded end.
    e = np.clip(1.0 - np.minimum(s, spec.length - s) / spec.cap_radius, 0.0, None)
    radius = np.sqrt(e * e + (t / body) ** 2)
    inside = radius < 1.0
    signed_u = t / np.maximum(spec.half_width_at(s), 1e-6)  # across the local width, -1..1
    u = np.abs(signed_u)
    solid = np.sqrt(np.clip(1.0 - radius ** _CROSS_EXPONENT, 0.0, 1.0))
    lobes = np.sqrt(np.clip(1.0 - ((u - 0.5) / 0.5) ** 2, 0.0, 1.0))  # two sister chromatids side by side
    g = np.interp(s, spec.s, spec.groove)
    rows, cols = spec.texture.shape
    grain = spec.texture[np.clip(np.rint(s * (rows - 1) / spec.length), 0, rows - 1).astype(np.intp),
                         np.clip(np.rint((signed_u + 1) * 0.5 * (cols - 1)), 0, cols - 1).astype(np.intp)]
    od = np.interp(s, spec.s, spec.density) * ((1.0 - g) * solid + g * lobes) * (1.0 + grain)
    if spec.gap is not None:
        inside_od = inside & (u >= np.interp(s, spec.s, spec.gap))
    else:
        inside_od = inside
    od = np.where(inside_od, od, 0.0).astype(np.float32)
    return Rendering(x0=x0, y0=y0, od=od, mask=inside, s_map=s.astype(np.float32),
                     polygon=outline_polygon(spec, points, tangents), centreline=points)
