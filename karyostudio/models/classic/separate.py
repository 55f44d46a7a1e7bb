"""Separate touching chromosomes by straight cuts between pairs of deep concavities.

Where two chromosomes touch, the outline of their union folds inward on both sides of the
contact: two deep concave points facing each other across a short gap (about one chromosome
width). Cutting along that segment separates them. The rules are deliberately strict, because
splitting one chromosome in two is worse than leaving a pair for the reviewer:
  - only components that look like several chromosomes are cut (extra skeleton ends, too
    large, too thick);
  - both concavities must be deep, the cut short, mostly inside the object, and the two points
    far apart along the outline (so the cut crosses the object instead of shaving an edge);
  - no cut may pass near a crossing (there, cutting would chop the crossing chromosomes into
    arms) and every piece must be at least the size of a small chromosome.
What cannot be separated this way is returned whole and flagged as a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from karyostudio.models.classic.seg_skeleton import SkeletonInfo, analyse


@dataclass(frozen=True)
class SplitRules:
    """Thresholds of :func:`separate`, in units of the chromosome width w."""

    min_depth_w: float = 0.3  # concavity depth below the convex hull
    oversized_depth_w: float = 0.15  # ... for pieces too large to be one chromosome
    single_penalty: float = 2.0  # one-sided cuts rank behind two-sided ones by this factor
    max_cut_w: float = 1.5  # cut length
    min_arc_ratio: float = 2.5  # outline distance between the two points / cut length
    min_inside: float = 0.8  # fraction of the cut inside the object
    min_piece_w2: float = 1.5  # smallest piece (area)
    crossing_clearance_w: float = 1.5  # cuts keep this far from crossings and enclosed holes
    max_single_area: float = 1e18  # pixels; larger pieces are clusters (set per cell)
    max_thickness_w: float = 0.8  # median medial radius above this means chromosomes side by side
    max_depth: int = 6  # recursion limit of successive cuts
    max_tries: int = 8  # candidate cuts tried per piece


@dataclass(frozen=True)
class Piece:
    mask: np.ndarray  # window mask (same window as the input)
    cluster: bool


def _concavities(mask: np.ndarray, min_depth: float) -> tuple[np.ndarray, list[tuple[int, float]]]:
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
    except cv2.error:  # self-touching contours can make OpenCV reject the hull
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


def _no_cut_zone_distance(mask: np.ndarray, crossings: list[tuple[float, float]]) -> np.ndarray:
    """Distance to the nearest crossing or enclosed hole: near those, cuts would chop crossing
    chromosomes into arms."""
    zone = (ndimage.binary_fill_holes(mask) & ~mask).astype(np.uint8)
    for x, y in crossings:
        zone[int(round(y)), int(round(x))] = 1
    if not zone.any():
        return np.full(mask.shape, np.float32(1e9))
    return cv2.distanceTransform(1 - zone, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _candidate_cuts(mask: np.ndarray, width: float, rules: SplitRules, zone_dist: np.ndarray,
                    *, oversized: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cuts (point a, point b) ordered from most to least convincing.

    Pairs of concavities come first. A piece too large for one chromosome may also be cut
    from a single concavity straight across to the nearest point of the far side (two
    chromosomes meeting end to end at an angle notch only the inner side of the bend), and
    its notches may be shallower.
    """
    depth = (rules.oversized_depth_w if oversized else rules.min_depth_w) * width
    contour, concave = _concavities(mask, depth)
    n = len(contour)
    max_cut = rules.max_cut_w * width

    def valid(ia: int, ib: int) -> float | None:
        a, b = contour[ia].astype(np.float64), contour[ib].astype(np.float64)
        length = float(np.hypot(*(b - a)))
        if length > max_cut:
            return None
        arc = min(abs(ia - ib), n - abs(ia - ib))
        if arc < rules.min_arc_ratio * max(length, 1.0):
            return None
        inside, clearance = _along(mask, zone_dist, a, b)
        if inside < rules.min_inside or clearance < rules.crossing_clearance_w * width:
            return None
        return length

    cuts = []
    for i in range(len(concave)):
        for j in range(i + 1, len(concave)):
            (ia, da), (ib, db) = concave[i], concave[j]
            length = valid(ia, ib)
            if length is not None:
                cuts.append((length / (da + db), ia, ib))  # short cuts between deep notches first
    if oversized and n:
        for ia, da in concave:
            d = np.hypot(*(contour - contour[ia]).T)
            arc = np.minimum(np.abs(np.arange(n) - ia), n - np.abs(np.arange(n) - ia))
            d[arc < rules.min_arc_ratio * np.maximum(d, 1.0)] = np.inf
            ib = int(np.argmin(d))
            length = valid(ia, ib) if np.isfinite(d[ib]) else None
            if length is not None:
                cuts.append((rules.single_penalty * length / da, ia, ib))
    cuts.sort(key=lambda c: c[0])
    return [(contour[ia].astype(np.float64), contour[ib].astype(np.float64)) for _, ia, ib in cuts]


def _apply_cut(mask: np.ndarray, a: np.ndarray, b: np.ndarray, min_piece: float) -> list[np.ndarray]:
    """Pieces of ``mask`` after removing the cut line.

    The line pixels and any crumbs smaller than ``min_piece`` / 4 go back to the nearest piece,
    so the pieces cover the mask exactly.
    """
    line = np.zeros(mask.shape, np.uint8)
    cv2.line(line, tuple(int(v) for v in a), tuple(int(v) for v in b), 1, thickness=2)
    rest = (mask & (line == 0)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=4)
    big = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= min_piece / 4]
    if len(big) < 2:
        return [mask]
    dists = np.stack([cv2.distanceTransform((labels != k).astype(np.uint8), cv2.DIST_L2, 3) for k in big])
    nearest = np.argmin(dists, axis=0)
    return [mask & (nearest == i) for i in range(len(big))]


def _complexity(mask: np.ndarray, info: SkeletonInfo, width: float, rules: SplitRules) -> int:
    """How many signs of several chromosomes a piece shows (0 for a plausible single one)."""
    c = max(info.ends - 2, 0) + 2 * len(info.crossings)
    if float(mask.sum()) > rules.max_single_area:
        c += 1
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    ridge = (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))) & (dist > 0)
    if ridge.any() and (2 * np.median(dist[ridge]) - 1) > 2 * rules.max_thickness_w * width:
        c += 1
    return c


def separate(mask: np.ndarray, width: float, rules: SplitRules) -> list[Piece]:
    """Split a component (window mask) into single chromosomes where the evidence is clear."""
    return _separate(mask, width, rules, _assess(mask, width, rules), 0)


def _assess(mask: np.ndarray, width: float, rules: SplitRules) -> tuple[SkeletonInfo, int]:
    info = analyse(mask, width)
    return info, _complexity(mask, info, width, rules)


def _separate(mask: np.ndarray, width: float, rules: SplitRules, assessed: tuple[SkeletonInfo, int],
              depth: int) -> list[Piece]:
    info, complexity = assessed
    if complexity == 0:
        return [Piece(mask, cluster=False)]
    if depth >= rules.max_depth:
        return [Piece(mask, cluster=True)]
    min_piece = rules.min_piece_w2 * width ** 2
    oversized = float(mask.sum()) > rules.max_single_area
    zone_dist = _no_cut_zone_distance(mask, info.crossings)
    for a, b in _candidate_cuts(mask, width, rules, zone_dist, oversized=oversized)[:rules.max_tries]:
        parts = _apply_cut(mask, a, b, min_piece)
        if len(parts) < 2 or min(p.sum() for p in parts) < min_piece:
            continue
        # A cut must free at least one plausible single chromosome and leave nothing more
        # tangled than before.
        part_assessed = [_assess(part, width, rules) for part in parts]
        scores = [c for _, c in part_assessed]
        if min(scores) > 0 or max(scores) > complexity:
            continue
        out = []
        for part, pa in zip(parts, part_assessed):
            out.extend(_separate(part, width, rules, pa, depth + 1))
        return out
    return [Piece(mask, cluster=True)]
