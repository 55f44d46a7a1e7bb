"""Polygons <-> masks and small polygon utilities (numpy + OpenCV + shapely; no torch, no Qt).

Conventions: a polygon is an N x 2 float array of (x, y) vertices in image pixel
coordinates, where pixel (col, row) covers the square [col, col+1) x [row, row+1) and its
centre is at (col + 0.5, row + 0.5). Masks are 2-D bool arrays indexed [row, col].
"""

from __future__ import annotations

import cv2
import numpy as np
import shapely
from shapely.geometry import Polygon as ShapelyPolygon



def polygon_to_mask(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a polygon into a bool mask of shape (height, width).

    A pixel is inside when its centre is strictly inside the polygon (even-odd rule).
    Scanline fill in numpy: one row of edge crossings per pixel row of the polygon's box.
    (cv2.fillPoly is faster but also fills pixels whose centre lies on an edge, which
    dilates every pixel-edge outline by one pixel; skimage.draw.polygon agrees except for
    centres exactly on an edge, which it counts as inside, and is about ten times slower.)
    """
    height, width = shape[:2]
    mask = np.zeros((height, width), dtype=bool)
    poly = np.asarray(polygon, dtype=np.float64)
    if len(poly) < 3 or height == 0 or width == 0:
        return mask
    row0 = max(int(np.floor(poly[:, 1].min() - 0.5)), 0)
    row1 = min(int(np.ceil(poly[:, 1].max() - 0.5)), height - 1)
    col0 = max(int(np.floor(poly[:, 0].min() - 0.5)), 0)
    col1 = min(int(np.ceil(poly[:, 0].max() - 0.5)), width - 1)
    if row0 > row1 or col0 > col1:
        return mask
    n_cols = col1 - col0 + 1
    centre_y = np.arange(row0, row1 + 1, dtype=np.float64)[:, None] + 0.5
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 <= centre_y) != (y1 <= centre_y)  # half-open rule: each crossing counted once
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = np.where(crosses, x0 + (centre_y - y0) * (x1 - x0) / (y1 - y0), np.inf)
    n_max = int(crosses.sum(axis=1).max())
    if n_max < 2:
        return mask
    xs = np.sort(xs, axis=1)[:, :n_max]
    starts, ends = xs[:, 0::2], xs[:, 1::2]
    valid = np.isfinite(starts) & np.isfinite(ends)
    rows = np.broadcast_to(np.arange(starts.shape[0])[:, None], starts.shape)[valid]
    # Pixel c is inside a span when start < c + 0.5 < end.
    first = np.clip(np.floor(starts[valid] - 0.5).astype(np.int64) + 1 - col0, 0, n_cols)
    last = np.clip(np.ceil(ends[valid] - 0.5).astype(np.int64) - 1 - col0, -1, n_cols - 1)
    keep = first <= last
    diff = np.zeros((starts.shape[0], n_cols + 1), dtype=np.int32)
    np.add.at(diff, (rows[keep], first[keep]), 1)
    np.add.at(diff, (rows[keep], last[keep] + 1), -1)
    mask[row0:row1 + 1, col0:col1 + 1] = np.cumsum(diff[:, :n_cols], axis=1) > 0
    return mask


def mask_to_polygons(mask: np.ndarray, *, min_area: float = 1.0, epsilon: float = 0.0) -> list[np.ndarray]:
    """Outer contours of a mask as polygons (largest first), in pixel-edge coordinates.

    Contours trace pixel boundaries (a single pixel at (c, r) becomes the square from
    (c, r) to (c+1, r+1)), so polygon_to_mask(mask_to_polygons(m)[0]) gives back m for
    simply connected masks. epsilon > 0 simplifies with Douglas-Peucker (pixels).
    """
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    # Upsample x2 then trace: contour points of the upsampled mask lie on pixel edges.
    big = cv2.resize(m, (m.shape[1] * 2, m.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    big = np.pad(big, 1)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64)
        pts = (pts - 1.0) / 2.0  # undo padding and scale
        # Points are on the border pixels' centres of the x2 mask: move outward to edges.
        pts = _drop_redundant_vertices(_snap_to_pixel_edges(pts))
        if epsilon > 0 and len(pts) > 3:
            pts = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), epsilon, True).reshape(-1, 2)
            pts = pts.astype(np.float64)
        if len(pts) >= 3 and polygon_area(pts) >= min_area:
            polys.append(pts)
    polys.sort(key=polygon_area, reverse=True)
    return polys


def _snap_to_pixel_edges(pts: np.ndarray) -> np.ndarray:
    # In the x2 grid a contour point (X, Y) marks sub-pixel centre ((X+0.5)/2, (Y+0.5)/2) of the
    # original image. Rounding each coordinate to the nearest half-integer and then to the pixel
    # edge on the outside gives exact pixel-boundary vertices.
    return np.round(pts * 2.0) / 2.0 + np.where(np.round(pts * 2.0) % 2 == 1, 0.5, 0.0)


def _drop_redundant_vertices(pts: np.ndarray) -> np.ndarray:
    """Remove repeated vertices and vertices in the middle of straight runs."""
    keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
    pts = pts[keep] if keep.any() else pts[:1]
    if len(pts) < 3:
        return pts
    prev, nxt = np.roll(pts, 1, axis=0), np.roll(pts, -1, axis=0)
    cross = (pts[:, 0] - prev[:, 0]) * (nxt[:, 1] - pts[:, 1]) - (pts[:, 1] - prev[:, 1]) * (nxt[:, 0] - pts[:, 0])
    return pts[np.abs(cross) > 1e-12]


def mask_to_polygon(mask: np.ndarray, **kwargs) -> np.ndarray | None:
    """The largest outer contour of a mask, or None if the mask is empty."""
    polys = mask_to_polygons(mask, **kwargs)
    return polys[0] if polys else None


def polygon_area(polygon: np.ndarray) -> float:
    p = np.asarray(polygon, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def polygon_bbox(polygon: np.ndarray) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a polygon."""
    p = np.asarray(polygon, dtype=np.float64)
    return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


def box_to_polygon(box: tuple[float, float, float, float]) -> np.ndarray:
    """Axis-aligned box (xmin, ymin, xmax, ymax) as a 4-vertex polygon."""
    x0, y0, x1, y1 = map(float, box)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def to_shapely(polygon: np.ndarray) -> ShapelyPolygon:
    """A valid shapely polygon (self-intersections repaired with make_valid, largest part kept)."""
    poly = ShapelyPolygon(np.asarray(polygon, dtype=np.float64))
    if not poly.is_valid:
        fixed = shapely.make_valid(poly)
        parts = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, ShapelyPolygon)]
        if not parts:
            raise ValueError("polygon has no area")
        poly = max(parts, key=lambda g: g.area)
    return poly


def from_shapely(poly: ShapelyPolygon) -> np.ndarray:
    """Exterior ring of a shapely polygon as an N x 2 array (closing vertex dropped)."""
    return np.asarray(poly.exterior.coords, dtype=np.float64)[:-1]


def union_polygons(polygons: list[np.ndarray]) -> np.ndarray:
    """Outline of the union of polygons (largest part if they do not touch)."""
    merged = shapely.union_all([to_shapely(p) for p in polygons])
    parts = [g for g in getattr(merged, "geoms", [merged]) if isinstance(g, ShapelyPolygon)]
    if not parts:
        raise ValueError("union has no area")
    return from_shapely(max(parts, key=lambda g: g.area))


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Exact area IoU of two polygons."""
    pa, pb = to_shapely(a), to_shapely(b)
    inter = pa.intersection(pb).area
    union = pa.area + pb.area - inter
    return float(inter / union) if union > 0 else 0.0
