"""Candidate straight cuts through a component, from concavities of its outline.

Where two chromosomes touch, the outline of their union folds inward on both sides of the
contact: two concave points facing each other across a short gap (about one chromosome width).
Two chromosomes meeting end to end at an angle notch only the inner side of the bend, so a cut
may also run from one concavity straight across to the nearest point of the far side. This
module only proposes cuts and applies them; which cut (if any) is right is decided by
:mod:`karyostudio.models.classic.separate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from karyostudio.models.classic.threshold import holes


@dataclass(frozen=True)
class CutRules:
    """Geometry limits of candidate cuts, in units of the chromosome width w."""

    min_depth_w: float = 0.15  # concavity depth below the convex hull
    single_penalty: float = 2.0  # one-sided cuts rank behind two-sided ones by this factor
    max_cut_w: float = 1.5  # cut length
    min_arc_ratio: float = 2.5  # outline distance between the two points / cut length
    min_inside: float = 0.8  # fraction of the cut inside the object
    clearance_w: float = 1.0  # cuts keep this far from crossings and enclosed holes


@dataclass(frozen=True)
class Cut:
    a: np.ndarray  # (x, y) window coordinates
    b: np.ndarray
    rank: float  # lower is more convincing
    two_sided: bool
    depth: float  # summed concavity depth (pixels)


def concavities(mask: np.ndarray, min_depth: float) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """The outer contour (N x 2, x/y) and its concave points as (contour index, depth)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.int32), []
    contour = max(contours, key=len)
    if len(contour) < 8:
        return contour.reshape(-1, 2), []
    hull = cv2.convexHull(contour, returnPoints=False)
    try:
        defects = cv2.convexityDefects(contour, np.sort(hull, axis=0))
    except cv2.error:  # self-touching outlines can make OpenCV reject the hull
        return contour.reshape(-1, 2), []
    points = []
    if defects is not None:
        for _, _, far, depth in defects.reshape(-1, 4):
            if depth / 256.0 >= min_depth:
                points.append((int(far), depth / 256.0))
    return contour.reshape(-1, 2), points


def _along(mask: np.ndarray, zone_dist: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Fraction of the segment a-b inside the mask, and its smallest distance to a no-cut zone."""
    n = int(np.ceil(np.hypot(*(b - a)))) + 1
    t = np.linspace(0.0, 1.0, n)
    xs = np.round(a[0] + t * (b[0] - a[0])).astype(int)
    ys = np.round(a[1] + t * (b[1] - a[1])).astype(int)
    return float(mask[ys, xs].mean()), float(zone_dist[ys, xs].min())


def no_cut_zone_distance(mask: np.ndarray, crossings: list[tuple[float, float]]) -> np.ndarray:
    """Distance to the nearest crossing or enclosed hole; cutting there would chop crossing
    chromosomes into arms."""
    zone = holes(mask).astype(np.uint8)
    for x, y in crossings:
        zone[int(round(y)), int(round(x))] = 1
    if not zone.any():
        return np.full(mask.shape, np.float32(1e9))
    return cv2.distanceTransform(1 - zone, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def candidate_cuts(mask: np.ndarray, width: float, rules: CutRules,
                   crossings: list[tuple[float, float]]) -> list[Cut]:
    """Plausible cuts, most convincing first (short cuts between deep notches)."""
    contour, concave = concavities(mask, rules.min_depth_w * width)
    n = len(contour)
    if not concave:
        return []
    zone_dist = no_cut_zone_distance(mask, crossings)
    max_cut = rules.max_cut_w * width

    def length_if_valid(ia: int, ib: int) -> float | None:
        a, b = contour[ia].astype(np.float64), contour[ib].astype(np.float64)
        length = float(np.hypot(*(b - a)))
        if length > max_cut:
            return None
        arc = min(abs(ia - ib), n - abs(ia - ib))
        if arc < rules.min_arc_ratio * max(length, 1.0):
            return None
        inside, clearance = _along(mask, zone_dist, a, b)
        if inside < rules.min_inside or clearance < rules.clearance_w * width:
            return None
        return length

    cuts = []
    for i in range(len(concave)):
        for j in range(i + 1, len(concave)):
            (ia, da), (ib, db) = concave[i], concave[j]
            length = length_if_valid(ia, ib)
            if length is not None:
                cuts.append(Cut(contour[ia].astype(np.float64), contour[ib].astype(np.float64),
                                length / (da + db), True, da + db))
    idx = np.arange(n)
    for ia, da in concave:
        d = np.hypot(*(contour - contour[ia]).T)
        arc = np.minimum(np.abs(idx - ia), n - np.abs(idx - ia))
        d[arc < rules.min_arc_ratio * np.maximum(d, 1.0)] = np.inf
        ib = int(np.argmin(d))
        if not np.isfinite(d[ib]):
            continue
        length = length_if_valid(ia, ib)
        if length is not None:
            cuts.append(Cut(contour[ia].astype(np.float64), contour[ib].astype(np.float64),
                            rules.single_penalty * length / da, False, da))
    cuts.sort(key=lambda c: c.rank)
    return _distinct(cuts, width)


def _distinct(cuts: list[Cut], width: float) -> list[Cut]:
    """Drop cuts that nearly repeat a better one (same place, within a quarter width)."""
    kept: list[Cut] = []
    tol = 0.25 * width
    for c in cuts:
        if not any(min(np.hypot(*(c.a - k.a)) + np.hypot(*(c.b - k.b)),
                       np.hypot(*(c.a - k.b)) + np.hypot(*(c.b - k.a))) < 2 * tol for k in kept):
            kept.append(c)
    return kept


def apply_cut(mask: np.ndarray, cut: Cut, min_piece: float) -> list[np.ndarray]:
    """Pieces of ``mask`` after removing the cut line (one piece when the cut fails).

    The line pixels and any crumbs smaller than ``min_piece`` go back to the nearest piece, so
    the pieces cover the mask exactly.
    """
    line = np.zeros(mask.shape, np.uint8)
    cv2.line(line, tuple(int(v) for v in cut.a), tuple(int(v) for v in cut.b), 1, thickness=2)
    rest = (mask & (line == 0)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=4)
    big = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= min_piece]
    if len(big) < 2:
        return [mask]
    dists = np.stack([cv2.distanceTransform((labels != k).astype(np.uint8), cv2.DIST_L2, 3) for k in big])
    nearest = np.argmin(dists, axis=0)
    return [mask & (nearest == i) for i in range(len(big))]
