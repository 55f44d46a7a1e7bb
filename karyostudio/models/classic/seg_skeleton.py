"""Medial skeleton of one component: end points after spur pruning, and crossings.

A single chromosome, straight or bent, has a skeleton with two ends. A chromosome touching
another's side adds a third end at a three-way junction; two chromosomes lying across each other
make a four-way junction (or two three-way junctions close together). Short spurs from bumpy
outlines and splayed chromatid ends are pruned first so they do not count as branches.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.morphology import skeletonize

_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float32)
_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


@dataclass(frozen=True)
class SkeletonInfo:
    ends: int  # end points after pruning
    crossings: list[tuple[float, float]]  # (x, y) in window coordinates of 4-way junctions
    length: float  # skeleton pixels after pruning


def _neighbour_count(skel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(skel.astype(np.float32), -1, _NEIGHBOURS, borderType=cv2.BORDER_CONSTANT)


def _trace_spur(skel: np.ndarray, nb: np.ndarray, start: tuple[int, int], limit: int) -> list[tuple[int, int]] | None:
    """Pixels from an end point up to (not including) the first junction, if within ``limit``."""
    h, w = skel.shape
    path = [start]
    seen = {start}
    cur = start
    while len(path) <= limit:
        nxt = [(cur[0] + dy, cur[1] + dx) for dy, dx in _OFFSETS
               if 0 <= cur[0] + dy < h and 0 <= cur[1] + dx < w and skel[cur[0] + dy, cur[1] + dx]
               and (cur[0] + dy, cur[1] + dx) not in seen]
        if not nxt:
            return None  # the whole skeleton is this one line: not a spur
        if any(nb[p] >= 3 for p in nxt) or len(nxt) > 1:
            return path  # reached a junction
        cur = nxt[0]
        seen.add(cur)
        path.append(cur)
    return None


def prune(skel: np.ndarray, max_spur: float, rounds: int = 3) -> np.ndarray:
    """Remove branches that run from an end point to a junction in at most ``max_spur`` pixels."""
    skel = skel.copy()
    limit = max(1, int(round(max_spur)))
    for _ in range(rounds):
        nb = _neighbour_count(skel)
        ends = np.argwhere(skel & (nb == 1))
        if len(ends) <= 2:
            break
        removed = False
        for y, x in ends:
            path = _trace_spur(skel, nb, (int(y), int(x)), limit)
            if path is not None:
                for p in path:
                    skel[p] = False
                removed = True
        if not removed:
            break
    return skel


def analyse(mask: np.ndarray, width: float, *, max_spur_w: float = 0.9,
            crossing_radius_w: float = 0.7) -> SkeletonInfo:
    """Skeleton end count, crossings and length of a (window) mask."""
    padded = np.pad(mask, 1)
    # A light blur of the outline keeps one-pixel bumps from sprouting branches.
    sigma = max(0.5, 0.12 * width)
    smooth = cv2.GaussianBlur(padded.astype(np.float32), (0, 0), sigma) > 0.5
    if not smooth.any():
        smooth = padded
    skel = prune(skeletonize(smooth), max_spur_w * width)
    nb = _neighbour_count(skel)
    ends = int((skel & (nb == 1)).sum())
    crossings = _crossings(skel, nb, crossing_radius_w * width)
    return SkeletonInfo(ends=ends, crossings=[(x - 1.0, y - 1.0) for x, y in crossings],
                        length=float(skel.sum()))


def _crossings(skel: np.ndarray, nb: np.ndarray, radius: float) -> list[tuple[float, float]]:
    """Centres of junction groups (junction pixels within ``radius``) with four or more branches."""
    junction = (skel & (nb >= 3)).astype(np.uint8)
    if not junction.any():
        return []
    r = max(1, int(round(radius)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    groups = cv2.dilate(junction, disk)
    n, glabels = cv2.connectedComponents(groups, connectivity=8)
    ring_outer = cv2.dilate(groups, np.ones((3, 3), np.uint8))
    out = []
    for g in range(1, n):
        region = glabels == g
        ring = (ring_outer > 0) & ~(groups > 0) & cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        branches, _ = cv2.connectedComponents((skel & ring).astype(np.uint8), connectivity=8)
        if branches - 1 >= 4:
            ys, xs = np.nonzero(region & junction.astype(bool))
            out.append((float(xs.mean()), float(ys.mean())))
    return out
