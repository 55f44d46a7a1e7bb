"""DeepCHM training targets: Gaussian saliency maps (Eq. 2) and per-chromosome hardness inputs.

From instance masks (preferred) or, for box-only data, from the rotated boxes alone:
  skeleton      mask: its morphological skeleton; box: the long centre segment (h - w long);
  edge          mask: its one-pixel boundary; box: its outline;
  intersection  skeleton points of one chromosome lying on (within one pixel of) another's
                skeleton; boxes: the crossing point of their centre segments;
  crossing      1 when the chromosome crosses another (each one's skeleton runs into the other's
                mask, so end-to-side touches do not count; for boxes: their centre segments
                cross), the I_itr of Eq. 7;
  bend          v of Eq. 9 from the skeleton (0 for boxes, which carry no bend).
Maps live on the feature grid (1/stride of the input): each point marks its cell and the map is
max_c exp(-d^2 / (2 sigma^2)) over marked cells c (d in cells), computed with one distance
transform per channel; marked cells are the peaks (exactly 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from karyostudio.geometry.rotated import rotated_box_corners
from karyostudio.models.deepchm.loss import bend_degree

SKELETON, EDGE, INTERSECTION = 0, 1, 2
_MIN_SKELETON_INSIDE = 2  # skeleton pixels inside another mask that make a crossing


@dataclass
class SaliencyTargets:
    maps: np.ndarray  # float32 [3, h, w]: skeleton, edge, intersection
    crossing: np.ndarray  # float32 [N]
    bend: np.ndarray  # float32 [N]


def gaussian_map(points_xy: np.ndarray, grid: tuple[int, int], stride: int, sigma2: float) -> np.ndarray:
    """Eq. 2 on a grid of ``grid`` (rows, cols) cells for input-pixel points [K, 2]."""
    rows, cols = grid
    marked = np.zeros(grid, dtype=bool)
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if len(pts):
        c = np.floor(pts[:, 0] / stride).astype(int)
        r = np.floor(pts[:, 1] / stride).astype(int)
        ok = (c >= 0) & (c < cols) & (r >= 0) & (r < rows)
        marked[r[ok], c[ok]] = True
    if not marked.any():
        return np.zeros(grid, dtype=np.float32)
    distance = ndimage.distance_transform_edt(~marked)
    return np.exp(-(distance ** 2) / (2.0 * sigma2)).astype(np.float32)


def _pixel_points(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Centres (x, y) of a bool mask's pixels (pixel (c, r) covers [c, c+1) x [r, r+1))."""
    r, c = np.nonzero(mask)
    return np.column_stack([c + offset[1] + 0.5, r + offset[0] + 0.5]).astype(np.float64)


def _crop(mask: np.ndarray) -> tuple[tuple[slice, slice], tuple[int, int]] | None:
    rows, cols = np.nonzero(np.any(mask, axis=1))[0], np.nonzero(np.any(mask, axis=0))[0]
    if len(rows) == 0:
        return None
    r0, r1, c0, c1 = max(rows[0] - 1, 0), rows[-1] + 2, max(cols[0] - 1, 0), cols[-1] + 2
    return (slice(r0, r1), slice(c0, c1)), (r0, c0)


def targets_from_masks(masks: np.ndarray, rboxes: np.ndarray, stride: int,
                       sigma2: Sequence[float] = (1.0, 1.0, 2.0)) -> SaliencyTargets:
    """Targets from instance masks [N, H, W] (input resolution) and their rotated boxes [N, 5]."""
    masks = np.asarray(masks).astype(bool)
    n, height, width = masks.shape
    grid = (height // stride, width // stride)
    skeletons, edges, crops = [], [], []
    for mask in masks:
        found = _crop(mask)
        crops.append(found)
        if found is None:
            skeletons.append(np.zeros(mask.shape, dtype=bool))
            edges.append(np.zeros((0, 2)))
            continue
        window, offset = found
        part = mask[window]
        skeleton = np.zeros(mask.shape, dtype=bool)
        skeleton[window] = skeletonize(part)
        skeletons.append(skeleton)
        edges.append(_pixel_points(part & ~ndimage.binary_erosion(part), offset))
    crossing = np.zeros(n, dtype=np.float32)
    crossings = []
    for i in range(n):
        for j in range(i + 1, n):
            if crops[i] is None or crops[j] is None or not _boxes_touch(crops[i][0], crops[j][0]):
                continue
            inside_ij = np.count_nonzero(skeletons[i] & masks[j])
            inside_ji = np.count_nonzero(skeletons[j] & masks[i])
            if inside_ij >= _MIN_SKELETON_INSIDE and inside_ji >= _MIN_SKELETON_INSIDE:
                crossing[i] = crossing[j] = 1.0
                meet = skeletons[i] & ndimage.binary_dilation(skeletons[j], structure=np.ones((3, 3), bool))
                crossings.append(_pixel_points(meet))
    skeleton_points = [_pixel_points(s) for s in skeletons]
    bend = np.array([bend_degree(p, b) for p, b in zip(skeleton_points, rboxes)], dtype=np.float32)
    maps = _maps(skeleton_points, edges, crossings, grid, stride, sigma2)
    return SaliencyTargets(maps=maps, crossing=crossing, bend=bend)


def _boxes_touch(a: tuple[slice, slice], b: tuple[slice, slice]) -> bool:
    return a[0].start < b[0].stop and b[0].start < a[0].stop and a[1].start < b[1].stop and b[1].start < a[1].stop


def centre_segment(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """End points of a box's long centre segment: length h - w (the spine of a capsule of width w)."""
    cx, cy, w, h, theta = (float(v) for v in box)
    if w > h:
        w, h, theta = h, w, theta + 90.0
    t = np.deg2rad(theta)
    along = np.array([-np.sin(t), np.cos(t)]) * max(h - w, 0.0) / 2.0
    centre = np.array([cx, cy])
    return centre - along, centre + along


def _segment_points(a: np.ndarray, b: np.ndarray, step: float = 1.0) -> np.ndarray:
    count = max(int(np.ceil(np.linalg.norm(b - a) / step)), 1) + 1
    return a[None, :] + np.linspace(0.0, 1.0, count)[:, None] * (b - a)[None, :]


def _segments_cross(p: tuple[np.ndarray, np.ndarray], q: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    r, s = p[1] - p[0], q[1] - q[0]
    denom = r[0] * s[1] - r[1] * s[0]
    if abs(denom) < 1e-12:
        return None
    d = q[0] - p[0]
    t = (d[0] * s[1] - d[1] * s[0]) / denom
    u = (d[0] * r[1] - d[1] * r[0]) / denom
    return p[0] + t * r if 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0 else None


def targets_from_boxes(rboxes: np.ndarray, image_shape: tuple[int, int], stride: int,
                       sigma2: Sequence[float] = (1.0, 1.0, 2.0)) -> SaliencyTargets:
    """Targets for box-only data: centre segments as skeletons, outlines as edges, no bend."""
    boxes = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    grid = (image_shape[0] // stride, image_shape[1] // stride)
    segments = [centre_segment(b) for b in boxes]
    skeletons = [_segment_points(*s) for s in segments]
    edges = []
    for corners in rotated_box_corners(boxes) if len(boxes) else []:
        edges.append(np.concatenate([_segment_points(corners[k], corners[(k + 1) % 4]) for k in range(4)]))
    crossing = np.zeros(len(boxes), dtype=np.float32)
    crossings = []
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            point = _segments_cross(segments[i], segments[j])
            if point is not None:
                crossing[i] = crossing[j] = 1.0
                crossings.append(point[None, :])
    maps = _maps(skeletons, edges, crossings, grid, stride, sigma2)
    return SaliencyTargets(maps=maps, crossing=crossing, bend=np.zeros(len(boxes), dtype=np.float32))


def _maps(skeletons: list[np.ndarray], edges: list[np.ndarray], crossings: list[np.ndarray],
          grid: tuple[int, int], stride: int, sigma2: Sequence[float]) -> np.ndarray:
    def joined(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros((0, 2))

    return np.stack([gaussian_map(joined(skeletons), grid, stride, sigma2[SKELETON]),
                     gaussian_map(joined(edges), grid, stride, sigma2[EDGE]),
                     gaussian_map(joined(crossings), grid, stride, sigma2[INTERSECTION])])
