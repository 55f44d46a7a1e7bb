"""Random smooth chromosome centrelines: a curvature function integrated along arc length.

Most metaphase chromosomes are nearly straight; some curve gently (C or S shapes) and a few
bend sharply, often at the centromere. Curvature is capped so the outline never folds over
itself on the inner side of a bend (radius of curvature above the half width).
"""

from __future__ import annotations

import numpy as np

# Share of straight / gently curved / sharply bent chromosomes among long ones. Short
# chromosomes (length under ~3 widths) rarely bend visibly, so they are drawn straighter.
BEND_MODES = ("straight", "curved", "bent")
BEND_PROBABILITIES_LONG = (0.65, 0.27, 0.08)
BEND_PROBABILITIES_SHORT = (0.85, 0.15, 0.0)
# The tightest bend: radius of curvature = this factor x half width.
MIN_RADIUS_FACTOR = 1.4


def _smooth_noise(rng: np.random.Generator, s: np.ndarray, length: float) -> np.ndarray:
    """A smooth zero-mean random function of s with wavelengths around the chromosome length."""
    out = np.zeros_like(s)
    for _ in range(3):
        wavelength = length * rng.uniform(0.5, 1.6)
        out += rng.normal() * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi))
    return out / np.sqrt(3.0)


def random_curvature(rng: np.random.Generator, s: np.ndarray, *, half_width: float, centromere_s: float,
                     bend_scale: float = 1.0) -> np.ndarray:
    """Curvature (1/px) at arc lengths s for one chromosome; bend_scale scales every bend of the cell."""
    length = float(s[-1])
    long = length > 6 * half_width
    mode = rng.choice(BEND_MODES, p=BEND_PROBABILITIES_LONG if long else BEND_PROBABILITIES_SHORT)
    kappa = _smooth_noise(rng, s, length) * np.deg2rad(6.0) / max(length, 1.0)  # a little wobble always
    if mode == "curved":
        turn = np.deg2rad(rng.uniform(20, 75)) * rng.choice([-1, 1])
        if rng.random() < 0.7:  # C shape: one steady turn
            kappa += turn / length * (1 + 0.5 * _smooth_noise(rng, s, length))
        else:  # S shape: opposite turns in the two halves
            kappa += turn / length * 2.2 * np.sin(2 * np.pi * s / length + rng.uniform(-0.4, 0.4))
    elif mode == "bent":
        at = centromere_s if rng.random() < 0.5 else rng.uniform(0.25, 0.75) * length
        sigma = rng.uniform(1.0, 2.0) * half_width
        turn = np.deg2rad(rng.uniform(45, 110)) * rng.choice([-1, 1])
        kappa += turn * np.exp(-0.5 * ((s - at) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    kappa *= bend_scale
    limit = 1.0 / (MIN_RADIUS_FACTOR * half_width)
    return np.clip(kappa, -limit, limit)


def integrate_centreline(s: np.ndarray, kappa: np.ndarray, heading: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (K x 2) starting at the origin and unit tangents (K x 2) of the curve with this curvature."""
    ds = np.diff(s)
    theta = heading + cumulative_turn(s, kappa)
    tangents = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    mid = 0.5 * (tangents[1:] + tangents[:-1])  # midpoint rule keeps the arc length accurate
    steps = mid / np.linalg.norm(mid, axis=1, keepdims=True) * ds[:, None]
    points = np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    return points, tangents


def cumulative_turn(s: np.ndarray, kappa: np.ndarray) -> np.ndarray:
    """Heading change from s = 0 to each sample (radians), as integrate_centreline uses it."""
    return np.concatenate([[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * np.diff(s))])
