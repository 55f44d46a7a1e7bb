"""Rotated boxes and their exact IoU (numpy + OpenCV; no torch).

Convention. A rotated box is ``(cx, cy, w, h, theta)`` in image pixels (x right, y down):
  - (cx, cy) is the centre;
  - theta is in DEGREES, normalised to [0, 180): the clockwise rotation on screen of the
    upright box, so theta = 0 puts the w side along x and the h side along y;
  - the w side runs along (cos theta, sin theta) and the h side along (-sin theta, cos theta);
  - normalised boxes have h >= w, i.e. h is the long axis (a chromosome's length). A box
    with w > h is the same rectangle as (cx, cy, h, w, theta + 90). Squares keep theta in
    [0, 90) so that every rectangle has exactly one normalised form.

The IoU is exact for convex quadrilaterals: the intersection polygon is built from the
corners of each box inside the other plus the edge-edge crossings, ordered by angle around
their mean and measured with the shoelace formula. Contained boxes give the area ratio and
zero-area (degenerate) boxes give IoU 0.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

# Pairs are evaluated in chunks to bound memory (24 candidate points per pair).
_CHUNK = 65536
# Tolerance, in units of the pair's own scale, for "on the boundary" and parallel edges.
_EPS = 1e-9


def normalize_rotated_boxes(boxes: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Rotated boxes (N x 5, or one box of 5) in normalised form: h >= w, theta in [0, 180)."""
    b = np.array(boxes, dtype=np.float64)
    single = b.ndim == 1
    b = np.atleast_2d(b)
    if b.shape[1] != 5:
        raise ValueError(f"rotated boxes must be N x 5 (cx, cy, w, h, theta), got shape {b.shape}")
    if np.any(b[:, 2:4] < 0) or not np.all(np.isfinite(b)):
        raise ValueError("rotated boxes need finite values and non-negative w, h")
    swap = b[:, 2] > b[:, 3]
    b[swap, 2], b[swap, 3] = b[swap, 3].copy(), b[swap, 2].copy()
    b[swap, 4] += 90.0
    period = np.where(b[:, 2] == b[:, 3], 90.0, 180.0)
    b[:, 4] = np.mod(b[:, 4], period)
    b[:, 4] = np.where(b[:, 4] >= period, 0.0, b[:, 4])  # mod can round up to the period
    return b[0] if single else b


def rotated_box_corners(boxes: np.ndarray) -> np.ndarray:
    """Corners (N x 4 x 2) of rotated boxes (N x 5), with positive shoelace area.

    The order is (-w/2, -h/2), (+w/2, -h/2), (+w/2, +h/2), (-w/2, +h/2) in box coordinates.
    """
    b = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    t = np.deg2rad(b[:, 4])
    cos, sin = np.cos(t), np.sin(t)
    u = np.stack([cos, sin], axis=1) * (b[:, 2:3] / 2)  # half of the w side
    v = np.stack([-sin, cos], axis=1) * (b[:, 3:4] / 2)  # half of the h side
    c = b[:, 0:2]
    return np.stack([c - u - v, c + u - v, c + u + v, c - u + v], axis=1)


def rotated_box_to_polygon(box: Sequence[float] | np.ndarray) -> np.ndarray:
    """One rotated box as a 4 x 2 polygon."""
    return rotated_box_corners(np.asarray(box, dtype=np.float64).reshape(1, 5))[0]


def rotated_box_area(boxes: np.ndarray) -> np.ndarray:
    b = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    return b[:, 2] * b[:, 3]


def min_area_rect(polygon: np.ndarray) -> tuple[float, float, float, float, float]:
    """cv2.minAreaRect of a polygon as (cx, cy, w, h, theta), not yet normalised.

    OpenCV's RotatedRect runs its width along (cos angle, sin angle), the same as our w side.
    OpenCV works in float32, so values are exact to about 1e-7 relative.
    """
    pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError("cannot fit a rotated box to an empty polygon")
    (cx, cy), (w, h), angle = cv2.minAreaRect(pts)
    return cx, cy, w, h, angle


def rotated_box_from_polygon(polygon: np.ndarray) -> np.ndarray:
    """The minimum-area rotated box (cv2.minAreaRect) around a polygon, normalised (h >= w)."""
    return normalize_rotated_boxes(min_area_rect(polygon))


def rotated_boxes_from_polygons(polygons: Sequence[np.ndarray]) -> np.ndarray:
    """rotated_box_from_polygon for each polygon (N x 5; 0 x 5 for no polygons)."""
    if len(polygons) == 0:
        return np.zeros((0, 5))
    return normalize_rotated_boxes([min_area_rect(p) for p in polygons])


_NEXT = np.array([1, 2, 3, 0])  # index of each corner's successor along the boundary


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside(points: np.ndarray, quad: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(P x K) whether each of K points lies inside or on the P convex CCW quads (P x 4 x 2)."""
    rel = points[:, :, None, :] - quad[:, None, :, :]  # P x K x 4 x 2
    side = _cross(edges[:, None, :, :], rel)
    return np.all(side >= -_EPS, axis=2)


def _edge_crossings(qa: np.ndarray, ea: np.ndarray, qb: np.ndarray, eb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crossing points (P x 16 x 2) of the 4 edges of qa with the 4 edges of qb, and validity."""
    r = ea[:, :, None, :]
    s = eb[:, None, :, :]
    d = qb[:, None, :, :] - qa[:, :, None, :]
    denom = _cross(r, s)  # P x 4 x 4
    parallel = np.abs(denom) <= _EPS
    safe = np.where(parallel, 1.0, denom)
    t = _cross(d, s) / safe
    u = _cross(d, r) / safe
    ok = ~parallel & (t >= -_EPS) & (t <= 1 + _EPS) & (u >= -_EPS) & (u <= 1 + _EPS)
    pts = qa[:, :, None, :] + t[..., None] * r
    n = len(qa)
    return pts.reshape(n, 16, 2), ok.reshape(n, 16)


def _quad_intersection_area(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Intersection area of paired convex CCW quads (P x 4 x 2 each)."""
    # Work in coordinates centred on and scaled by the pair so tolerances are relative.
    centre = 0.5 * (qa.mean(axis=1) + qb.mean(axis=1))[:, None, :]
    qa = qa - centre
    qb = qb - centre
    scale = np.maximum(np.abs(qa).max(axis=(1, 2)), np.abs(qb).max(axis=(1, 2)))
    scale = np.where(scale > 0, scale, 1.0)[:, None, None]
    qa = qa / scale
    qb = qb / scale
    ea, eb = qa[:, _NEXT] - qa, qb[:, _NEXT] - qb
    crossings, crossing_ok = _edge_crossings(qa, ea, qb, eb)
    points = np.concatenate([qa, qb, crossings], axis=1)  # P x 24 x 2
    valid = np.concatenate([_inside(qa, qb, eb), _inside(qb, qa, ea), crossing_ok], axis=1)
    count = valid.sum(axis=1)
    mean = np.einsum("pk,pkd->pd", valid.astype(np.float64), points) / np.maximum(count, 1)[:, None]
    rel = points - mean[:, None, :]
    angle = np.where(valid, np.arctan2(rel[..., 1], rel[..., 0]), np.inf)
    order = np.argsort(angle, axis=1)
    rows = np.arange(len(rel))[:, None]
    ordered = rel[rows, order]
    # Invalid slots (sorted last) repeat the first point: they add only zero-length edges.
    ordered = np.where(valid[rows, order][..., None], ordered, ordered[:, :1, :])
    area = 0.5 * np.abs(_cross(ordered, np.roll(ordered, -1, axis=1)).sum(axis=1))
    area = np.where(count >= 3, area, 0.0)
    return area * scale[:, 0, 0] ** 2


def rotated_iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Exact IoU between every box of boxes_a (N x 5) and of boxes_b (M x 5): N x M."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 5)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 5)
    out = np.zeros((len(a), len(b)))
    if len(a) == 0 or len(b) == 0:
        return out
    ca, cb = rotated_box_corners(a), rotated_box_corners(b)
    area_a, area_b = rotated_box_area(a), rotated_box_area(b)
    lo_a, hi_a = ca.min(axis=1), ca.max(axis=1)
    lo_b, hi_b = cb.min(axis=1), cb.max(axis=1)
    # Only pairs whose axis-aligned extents overlap and that both have area can intersect.
    overlap = np.all((lo_a[:, None, :] < hi_b[None, :, :]) & (lo_b[None, :, :] < hi_a[:, None, :]), axis=2)
    overlap &= (area_a[:, None] > 0) & (area_b[None, :] > 0)
    ia, ib = np.nonzero(overlap)
    for start in range(0, len(ia), _CHUNK):
        sa, sb = ia[start:start + _CHUNK], ib[start:start + _CHUNK]
        inter = _quad_intersection_area(ca[sa], cb[sb])
        inter = np.minimum(inter, np.minimum(area_a[sa], area_b[sb]))
        union = area_a[sa] + area_b[sb] - inter
        out[sa, sb] = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def rotated_iou(box_a: Sequence[float] | np.ndarray, box_b: Sequence[float] | np.ndarray) -> float:
    """Exact IoU of two rotated boxes."""
    return float(rotated_iou_matrix(np.reshape(box_a, (1, 5)), np.reshape(box_b, (1, 5)))[0, 0])
