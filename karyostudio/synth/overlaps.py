"""Which chromosomes touch or cross, measured from their final masks.

Two chromosomes are related when their masks overlap or, without overlapping, touch
(8-connected neighbours). An overlap is classified by where it lies along each chromosome:
away from both ends it is a crossing (X); at the end of one and the middle of the other a
T; at the ends of both an L. Groups of related chromosomes form clusters; a cluster's kind
is the strongest relation among its pairs (X > T > L > touch).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

KIND_ORDER = ("X", "T", "L", "touch")


@dataclass(frozen=True)
class MaskPatch:
    """A chromosome's mask as a patch at (x0, y0), with the arc length of each pixel."""

    x0: int
    y0: int
    mask: np.ndarray  # bool
    s_map: np.ndarray  # float32 arc length along the chromosome (p end = 0)
    length: float
    end_zone: float  # overlaps within this arc length of a tip count as "at the end"

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x0, self.y0, self.x0 + self.mask.shape[1], self.y0 + self.mask.shape[0]

    def clipped(self, shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
        """Image slices of the patch inside an image of (height, width), and the mask part there."""
        x0, y0, x1, y1 = self.box
        cx0, cy0 = min(max(x0, 0), shape[1]), min(max(y0, 0), shape[0])
        cx1, cy1 = max(min(x1, shape[1]), cx0), max(min(y1, shape[0]), cy0)
        return (slice(cy0, cy1), slice(cx0, cx1)), self.mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        """The mask in a full image of the given (height, width)."""
        out = np.zeros(shape, dtype=bool)
        where, part = self.clipped(shape)
        out[where] = part
        return out


@dataclass(frozen=True)
class CrossingCluster:
    """Instances (by id) that touch or overlap one another, the cluster's kind and every related pair."""

    members: tuple[int, ...]
    kind: str  # "X", "T", "L" or "touch"
    pairs: tuple[tuple[int, int, str], ...]


def _common(a: MaskPatch, b: MaskPatch, pad: int) -> tuple[slice, slice, slice, slice] | None:
    """Slices of a and b over their shared box (grown by pad), or None when disjoint."""
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    x0, y0 = max(ax0, bx0) - pad, max(ay0, by0) - pad
    x1, y1 = min(ax1, bx1) + pad, min(ay1, by1) + pad
    x0, y0, x1, y1 = max(x0, ax0, bx0), max(y0, ay0, by0), min(x1, ax1, bx1), min(y1, ay1, by1)
    if x1 <= x0 or y1 <= y0:
        return None
    return (slice(y0 - ay0, y1 - ay0), slice(x0 - ax0, x1 - ax0), slice(y0 - by0, y1 - by0), slice(x0 - bx0, x1 - bx0))


def _at_end(p: MaskPatch, s_values: np.ndarray) -> bool:
    """True when the overlap reaches exactly one tip (an overlap covering both is a crossing over it)."""
    near_p = bool(s_values.min() < p.end_zone)
    near_q = bool(s_values.max() > p.length - p.end_zone)
    return near_p != near_q


def relation(a: MaskPatch, b: MaskPatch) -> str | None:
    """"X", "T", "L", "touch" or None (apart) for two chromosome masks."""
    sl = _common(a, b, 0)
    if sl is not None:
        ov = a.mask[sl[0], sl[1]] & b.mask[sl[2], sl[3]]
        if ov.any():
            ends = _at_end(a, a.s_map[sl[0], sl[1]][ov]) + _at_end(b, b.s_map[sl[2], sl[3]][ov])
            return ("X", "T", "L")[ends]
    # Touching: b's mask meets a's mask grown by one pixel (8-neighbourhood).
    grown = cv2.dilate(np.pad(a.mask, 1).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ga = MaskPatch(a.x0 - 1, a.y0 - 1, grown, np.zeros(grown.shape, np.float32), a.length, a.end_zone)
    sl = _common(ga, b, 0)
    if sl is not None and np.any(ga.mask[sl[0], sl[1]] & b.mask[sl[2], sl[3]]):
        return "touch"
    return None


def find_clusters(patches: list[MaskPatch], ids: list[int]) -> list[CrossingCluster]:
    """Clusters of touching or overlapping chromosomes (members as ids, sorted), in id order."""
    pairs: list[tuple[int, int, str]] = []
    boxes = np.array([p.box for p in patches], dtype=np.int64).reshape(-1, 4)
    for i in range(len(patches)):
        # Only boxes that come within a pixel of each other can touch.
        near = np.nonzero((boxes[i + 1:, 0] <= boxes[i, 2]) & (boxes[i + 1:, 2] >= boxes[i, 0])
                          & (boxes[i + 1:, 1] <= boxes[i, 3]) & (boxes[i + 1:, 3] >= boxes[i, 1]))[0] + i + 1
        for j in near:
            kind = relation(patches[i], patches[int(j)])
            if kind is not None:
                pairs.append((i, int(j), kind))
    parent = list(range(len(patches)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in pairs:
        parent[root(i)] = root(j)
    by_root: dict[int, list[tuple[int, int, str]]] = {}
    for pair in pairs:
        by_root.setdefault(root(pair[0]), []).append(pair)
    clusters = []
    for group in by_root.values():
        members = sorted({ids[i] for i, j, _ in group} | {ids[j] for i, j, _ in group})
        kind = min((k for _, _, k in group), key=KIND_ORDER.index)
        clusters.append(CrossingCluster(tuple(members), kind, tuple((ids[i], ids[j], k) for i, j, k in group)))
    clusters.sort(key=lambda c: c.members)
    return clusters


def coverage_count(patches: list[MaskPatch], shape: tuple[int, int]) -> np.ndarray:
    """How many chromosome masks cover each pixel (uint8)."""
    count = np.zeros(shape, dtype=np.uint8)
    for p in patches:
        where, part = p.clipped(shape)
        count[where] += part
    return count
