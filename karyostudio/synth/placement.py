"""Lay the chromosomes of one cell out as a metaphase spread.

Chromosomes fall inside an ellipse (the spread) at a density drawn per cell, a few stray
ones anywhere in the field. Groups of 2-4 chromosomes are deliberately made to cross (X),
to end on another one (T), to overlap end to end (L) or to touch side by side; all other
chromosomes keep a small gap. What actually overlaps is measured afterwards from the final
masks (overlaps.py), so the ground truth never relies on this plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from karyostudio.synth.centreline import cumulative_turn
from karyostudio.synth.chromosome import ChromosomeSpec, Rendering, render_chromosome

JOIN_KINDS = ("X", "T", "L", "touch")
JOIN_PROBABILITIES = (0.35, 0.25, 0.15, 0.25)
GROUP_SIZES = (2, 3, 4)
GROUP_SIZE_PROBABILITIES = (0.75, 0.2, 0.05)
_TRIES_FREE = 60
_TRIES_JOIN = 12


@dataclass(frozen=True)
class Placed:
    """A chromosome at its final position; `group` is its touching/crossing group (or its own)."""

    spec: ChromosomeSpec
    heading: float  # direction of the centreline at the p end (radians)
    rendering: Rendering
    group: int

    def point_and_heading(self, s: float) -> tuple[np.ndarray, float]:
        """Centreline point and direction (radians) at arc length s."""
        c = self.rendering.centreline
        point = np.array([np.interp(s, self.spec.s, c[:, 0]), np.interp(s, self.spec.s, c[:, 1])])
        return point, self.heading + float(np.interp(s, self.spec.s, cumulative_turn(self.spec.s, self.spec.kappa)))


@dataclass(frozen=True)
class Spread:
    """The ellipse the chromosomes of a cell fall in."""

    centre: np.ndarray
    radii: np.ndarray
    angle: float

    def sample(self, rng: np.random.Generator, grow: float = 1.0) -> np.ndarray:
        r, phi = np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
        local = np.array([np.cos(phi), np.sin(phi)]) * self.radii * r * grow
        c, s = np.cos(self.angle), np.sin(self.angle)
        return self.centre + np.array([c * local[0] - s * local[1], s * local[0] + c * local[1]])


class Occupancy:
    """Which group holds each pixel (dilated by the gap); -1 where free."""

    def __init__(self, shape: tuple[int, int], gap: int):
        self.owner = np.full(shape, -1, dtype=np.int32)
        self.gap = gap

    def fits(self, r: Rendering, group: int) -> bool:
        h, w = r.shape
        if r.x0 < 0 or r.y0 < 0 or r.x0 + w > self.owner.shape[1] or r.y0 + h > self.owner.shape[0]:
            return False
        region = self.owner[r.y0:r.y0 + h, r.x0:r.x0 + w]
        return not np.any(r.mask & (region >= 0) & (region != group))

    def add(self, r: Rendering, group: int) -> None:
        g = self.gap
        grown = cv2.dilate(np.pad(r.mask, g).astype(np.uint8),
                           cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1))).astype(bool)
        y0, x0 = r.y0 - g, r.x0 - g
        ys, xs = max(0, -y0), max(0, -x0)
        ye = min(grown.shape[0], self.owner.shape[0] - y0)
        xe = min(grown.shape[1], self.owner.shape[1] - x0)
        region = self.owner[y0 + ys:y0 + ye, x0 + xs:x0 + xe]
        region[grown[ys:ye, xs:xe] & (region < 0)] = group


def make_spread(rng: np.random.Generator, size: int, chromosome_area: float, fill: float) -> Spread:
    area = chromosome_area / fill
    aspect = rng.uniform(0.65, 1.0)
    b = np.sqrt(area / (np.pi * aspect))
    radii = np.array([b * aspect, b])
    radii = np.minimum(radii, 0.46 * size)
    centre = size / 2 + rng.normal(0, 0.06 * size, 2)
    centre = np.clip(centre, radii.max() * 0.6, size - radii.max() * 0.6)
    return Spread(centre=centre, radii=radii, angle=rng.uniform(0, np.pi))


def _centred_at(r: Rendering, point: np.ndarray) -> Rendering:
    d = np.round(point - r.centreline.mean(axis=0)).astype(int)
    return r.translated(int(d[0]), int(d[1]))


def _place_free(rng: np.random.Generator, spec: ChromosomeSpec, occ: Occupancy, spread: Spread, group: int,
                anywhere: bool) -> Placed:
    """Put a chromosome where it keeps the gap to everything else, growing the search area if needed."""
    heading = rng.uniform(0, 2 * np.pi)
    base = render_chromosome(spec, heading)
    size = np.array(occ.owner.shape[::-1], dtype=np.float64)
    candidate = base
    for attempt in range(_TRIES_FREE * 4):
        grow = 1.0 + 0.15 * (attempt // _TRIES_FREE)
        point = rng.random(2) * size if anywhere or attempt >= _TRIES_FREE * 3 else spread.sample(rng, grow)
        candidate = _centred_at(base, point)
        if occ.fits(candidate, group):
            break
    else:  # crowded beyond repair (tiny images): accept an overlap, measured later like any other
        candidate = _centred_at(base, np.clip(spread.sample(rng), base.shape[::-1], size - base.shape[::-1]))
    return Placed(spec, heading, candidate.exact(), group)


def _render_with_anchor(spec: ChromosomeSpec, s_anchor: float, heading_at_anchor: float,
                        point: np.ndarray) -> tuple[Rendering, float]:
    heading = heading_at_anchor - float(np.interp(s_anchor, spec.s, cumulative_turn(spec.s, spec.kappa)))
    r = render_chromosome(spec, heading)
    c = r.centreline
    here = np.array([np.interp(s_anchor, spec.s, c[:, 0]), np.interp(s_anchor, spec.s, c[:, 1])])
    d = np.round(point - here).astype(int)
    return r.translated(int(d[0]), int(d[1])), heading


def _join(rng: np.random.Generator, a: Placed, spec: ChromosomeSpec, kind: str) -> tuple[Rendering, float]:
    """Render a chromosome so that it crosses, ends on, overlaps the end of, or touches `a`."""
    la, lb = a.spec.length, spec.length
    hw_a, hw_b = float(a.spec.half_width.max()), float(spec.half_width.max())
    sign = rng.choice([-1.0, 1.0])
    if kind == "X":
        pa, ha = a.point_and_heading(rng.uniform(0.3, 0.7) * la)
        return _render_with_anchor(spec, rng.uniform(0.3, 0.7) * lb, ha + sign * np.deg2rad(rng.uniform(35, 90)), pa)
    if kind == "T":
        pa, ha = a.point_and_heading(rng.uniform(0.25, 0.75) * la)
        depth = rng.uniform(0.2, 0.9) * hw_a  # how far the end reaches across a's axis
        p_end = rng.random() < 0.5
        s_b = depth if p_end else lb - depth
        hb = ha + sign * np.deg2rad(rng.uniform(55, 90)) + (0.0 if p_end else np.pi)
        return _render_with_anchor(spec, s_b, hb, pa)
    if kind == "L":
        a_p_end, b_p_end = rng.random() < 0.5, rng.random() < 0.5
        d_a, d_b = rng.uniform(0.3, 1.0) * hw_a, rng.uniform(0.3, 1.0) * hw_b
        pa, ha = a.point_and_heading(d_a if a_p_end else la - d_a)
        out_a = ha if a_p_end else ha + np.pi  # direction from the junction into a's body
        out_b = out_a + sign * np.deg2rad(rng.uniform(50, 130))
        return _render_with_anchor(spec, d_b if b_p_end else lb - d_b, out_b if b_p_end else out_b + np.pi, pa)
    # touch: approach a from the side until the outlines meet, then step back to no overlap
    pa, ha = a.point_and_heading(rng.uniform(0.2, 0.8) * la)
    relative = rng.uniform(-0.6, 0.6) if rng.random() < 0.6 else rng.uniform(0, 2 * np.pi)
    away = np.array([np.cos(ha + sign * np.pi / 2), np.sin(ha + sign * np.pi / 2)])
    start = pa + away * (hw_a + hw_b + 3 * (hw_a + hw_b))
    base, heading = _render_with_anchor(spec, rng.uniform(0.3, 0.7) * lb, ha + relative, start)
    return _slide_to_contact(base.exact(), a.rendering, -away), heading


def _overlap(a: Rendering, b: Rendering, dilate: int = 0) -> int:
    """Number of pixels of b's mask inside a's mask (a grown by `dilate` px)."""
    x0, y0 = max(a.x0, b.x0), max(a.y0, b.y0)
    x1, y1 = min(a.x0 + a.shape[1], b.x0 + b.shape[1]), min(a.y0 + a.shape[0], b.y0 + b.shape[0])
    if x1 <= x0 or y1 <= y0:
        return 0
    ma = a.mask
    if dilate:
        ma = cv2.dilate(ma.astype(np.uint8), np.ones((2 * dilate + 1,) * 2, np.uint8)).astype(bool)
    pa = ma[y0 - a.y0:y1 - a.y0, x0 - a.x0:x1 - a.x0]
    pb = b.mask[y0 - b.y0:y1 - b.y0, x0 - b.x0:x1 - b.x0]
    return int(np.count_nonzero(pa & pb))


def _slide_to_contact(moving: Rendering, fixed: Rendering, direction: np.ndarray) -> Rendering:
    """Move `moving` along direction in 1-px steps; return the last position touching but not overlapping.

    Both masks should be polygon rasters: a whole-pixel move keeps the raster valid (up to
    centres lying exactly on the outline, which the final exact() settles).
    """
    last_free = moving
    for step in range(1, 400):
        d = np.round(direction * step).astype(int)
        candidate = moving.translated(int(d[0]), int(d[1]))
        if _overlap(fixed, candidate) > 0:
            break
        last_free = candidate
    else:
        return last_free
    if _overlap(fixed, last_free, dilate=1) > 0:
        return last_free
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)):
        near = last_free.translated(dx, dy)
        if _overlap(fixed, near) == 0 and _overlap(fixed, near, dilate=1) > 0:
            return near
    return last_free


def place_chromosomes(rng: np.random.Generator, specs: list[ChromosomeSpec], *, size: int, fill: float,
                      gap: int, clusters_mean: float) -> tuple[list[Placed], Spread]:
    """Positions and orientations for every chromosome; order of the result follows `specs`."""
    area = sum(float(np.trapezoid(2 * sp.half_width, sp.s)) for sp in specs)
    spread = make_spread(rng, size, area, fill)
    occ = Occupancy((size, size), gap)
    order = [int(i) for i in rng.permutation(len(specs))]
    groups: list[list[int]] = []
    for _ in range(int(rng.poisson(clusters_mean))):
        k = int(rng.choice(GROUP_SIZES, p=GROUP_SIZE_PROBABILITIES))
        if len(order) < k:
            break
        groups.append([order.pop() for _ in range(k)])
    strays = set(order[:int(rng.integers(1, 4))]) if rng.random() < 0.35 else set()
    singles = sorted(order, key=lambda i: -specs[i].length)

    placed: dict[int, Placed] = {}
    next_group = 0
    for members in groups:
        group, next_group = next_group, next_group + 1
        first = _place_free(rng, specs[members[0]], occ, spread, group, anywhere=False)
        occ.add(first.rendering, group)
        placed[members[0]] = first
        joined = [first]
        for idx in members[1:]:
            for _ in range(_TRIES_JOIN):
                partner = joined[int(rng.integers(len(joined)))]
                kind = str(rng.choice(JOIN_KINDS, p=JOIN_PROBABILITIES))
                rendering, heading = _join(rng, partner, specs[idx], kind)
                if occ.fits(rendering, group):
                    p = Placed(specs[idx], heading, rendering.exact(), group)
                    occ.add(p.rendering, group)
                    placed[idx] = p
                    joined.append(p)
                    break
            else:
                singles.append(idx)
    for idx in singles:
        group, next_group = next_group, next_group + 1
        p = _place_free(rng, specs[idx], occ, spread, group, anywhere=idx in strays)
        occ.add(p.rendering, group)
        placed[idx] = p
    return [placed[i] for i in range(len(specs))], spread
