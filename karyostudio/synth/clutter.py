"""What lies around a metaphase besides chromosomes: interphase nuclei, debris, cytoplasm haze.

Everything here adds optical density to the cell's density canvas, so where clutter lies
on a chromosome the image gets darker, as transmitted light would.
"""

from __future__ import annotations

import cv2
import numpy as np

from karyostudio.synth.placement import Spread


def _overlap_slices(canvas_shape: tuple[int, int], patch_shape: tuple[int, int], x0: int,
                    y0: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices of the canvas and of a patch placed at (x0, y0) over the part they share."""
    h, w = canvas_shape
    ys, xs = min(max(0, -y0), patch_shape[0]), min(max(0, -x0), patch_shape[1])
    ye, xe = max(min(patch_shape[0], h - y0), ys), max(min(patch_shape[1], w - x0), xs)
    return (slice(y0 + ys, y0 + ye), slice(x0 + xs, x0 + xe)), (slice(ys, ye), slice(xs, xe))


def add_patch(canvas: np.ndarray, patch: np.ndarray, x0: int, y0: int) -> None:
    """canvas[y0:, x0:] += patch, clipped to the canvas."""
    on_canvas, on_patch = _overlap_slices(canvas.shape, patch.shape, x0, y0)
    canvas[on_canvas] += patch[on_patch]


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean, unit-ish random field varying over about `cell` pixels (float32)."""
    gh, gw = max(2, int(np.ceil(shape[0] / cell)) + 1), max(2, int(np.ceil(shape[1] / cell)) + 1)
    coarse = rng.standard_normal((gh, gw), dtype=np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def nucleus_patch(rng: np.random.Generator, radius: float) -> np.ndarray:
    """Optical density of one interphase nucleus: an irregular oval with granular chromatin."""
    half = int(np.ceil(radius * 1.35)) + 3
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    aspect, angle = rng.uniform(0.72, 1.0), rng.uniform(0, np.pi)
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * xx + s * yy), (-s * xx + c * yy) / aspect
    phi = np.arctan2(v, u)
    wobble = 1.0 + sum(rng.normal(0, 0.025) * np.cos(k * phi + rng.uniform(0, 2 * np.pi)) for k in (2, 3))
    rho = np.hypot(u, v) / (radius * wobble)
    edge = 2.5 / radius
    body = np.clip((1.0 - rho) / edge + 0.5, 0.0, 1.0)
    body = body * body * (3 - 2 * body)  # smoothstep: a soft but definite rim
    shape = body.shape
    texture = (1.0 + 0.12 * smooth_noise(rng, shape, radius / 3) + 0.14 * smooth_noise(rng, shape, 2.5)
               + 0.08 * rng.standard_normal(shape, dtype=np.float32))
    return (rng.uniform(0.5, 1.2) * body * texture).astype(np.float32)


def add_nuclei(rng: np.random.Generator, od: np.ndarray, occupied: np.ndarray, spread: Spread, count: int,
               chr1_length: float) -> None:
    """Nuclei beside the spread (possibly cut by the image border), never on a chromosome."""
    size = np.array(od.shape[::-1], dtype=np.float64)
    for _ in range(count):
        radius = rng.uniform(0.45, 0.85) * chr1_length
        patch = nucleus_patch(rng, radius)
        half = patch.shape[0] // 2
        for _try in range(20):
            direction = rng.uniform(0, 2 * np.pi)
            distance = spread.radii.max() * rng.uniform(0.9, 1.6) + radius * rng.uniform(0.2, 1.0)
            centre = spread.centre + distance * np.array([np.cos(direction), np.sin(direction)])
            if np.any(centre < -0.5 * radius) or np.any(centre > size + 0.5 * radius):
                continue
            x0, y0 = int(round(centre[0])) - half, int(round(centre[1])) - half
            on_canvas, on_patch = _overlap_slices(od.shape, patch.shape, x0, y0)
            if not np.any(occupied[on_canvas] & (patch[on_patch] > 0.02)):
                add_patch(od, patch, x0, y0)
                break


def _blob(rng: np.random.Generator, radius: float) -> np.ndarray:
    half = int(np.ceil(radius * 2.5)) + 1
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    out = np.zeros_like(xx)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.normal(0, radius * 0.4, 2)
        r = radius * rng.uniform(0.5, 1.0)
        out += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    return out / max(float(out.max()), 1e-6)


def _ring(rng: np.random.Generator, radius: float) -> np.ndarray:
    half = int(np.ceil(radius + 3))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    return np.exp(-((np.hypot(xx, yy) - radius) ** 2) / (2 * 0.7 ** 2))


def add_debris(rng: np.random.Generator, od: np.ndarray, count: int, scale: float) -> None:
    """Dark specks, faint smudges and small refractile rings scattered over the field."""
    h, w = od.shape
    for _ in range(count):
        kind = rng.choice(["speck", "smudge", "ring"], p=[0.72, 0.18, 0.10])
        if kind == "speck":
            patch = _blob(rng, rng.uniform(0.6, 2.8) * max(scale, 0.5)) * rng.uniform(0.3, 1.6)
        elif kind == "smudge":
            patch = _blob(rng, rng.uniform(4, 14) * scale) * rng.uniform(0.03, 0.14)
        else:
            patch = _ring(rng, rng.uniform(3, 7) * scale) * rng.uniform(0.1, 0.35)
        half = patch.shape[0] // 2
        add_patch(od, patch.astype(np.float32), int(rng.integers(0, w)) - half, int(rng.integers(0, h)) - half)


def add_haze(rng: np.random.Generator, od: np.ndarray, spread: Spread) -> None:
    """Faint cytoplasm remnants: a large, uneven, barely visible cloud around the spread."""
    h, w = od.shape
    step = 4  # drawn at a quarter resolution: it has no detail finer than tens of pixels
    yy, xx = np.mgrid[0:h:step, 0:w:step].astype(np.float32)
    r = spread.radii.max() * rng.uniform(0.9, 1.4)
    cloud = np.exp(-((xx - spread.centre[0]) ** 2 + (yy - spread.centre[1]) ** 2) / (2 * r * r))
    cloud *= np.clip(1.0 + 0.3 * smooth_noise(rng, cloud.shape, max(4.0, r / step / 2)), 0.0, None)
    od += rng.uniform(0.01, 0.07) * cv2.resize(cloud, (w, h), interpolation=cv2.INTER_LINEAR)
