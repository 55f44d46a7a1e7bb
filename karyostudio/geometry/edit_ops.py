"""Outline edits behind the canvas tools: vertex insert/delete, brush add/erase, split, merge.

Pure geometry on N x 2 (x, y) polygons (shapely does the set operations); the GUI turns the
results into undoable commands. Every function either returns valid outlines or raises
EditError with a message meant for the user.

Policies (the GUI documents them too):
  - outlines have no holes: a hole that an edit would open inside an outline is dropped;
  - pieces smaller than ``min_piece_area`` (crumbs left by a brush or a cut) are dropped;
  - results are returned largest first, so callers can let the largest piece keep the id.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from karyostudio.geometry.polygons import from_shapely, to_shapely

MIN_VERTICES = 3
MIN_PIECE_AREA = 12.0  # px^2: smaller fragments are crumbs of a stroke, not chromosomes
SIMPLIFY_TOLERANCE = 0.2  # px: removes the dense arcs of brush buffers, keeps the shape


class EditError(ValueError):
    """An edit that cannot be made (the message says why, for the user)."""


# --- vertices ------------------------------------------------------------------------------------

def nearest_edge(polygon: np.ndarray, point: tuple[float, float]) -> tuple[int, float, np.ndarray]:
    """(index i of the edge from vertex i to i+1, distance, closest point on that edge)."""
    p = np.asarray(polygon, dtype=np.float64)
    a, b = p, np.roll(p, -1, axis=0)
    q = np.asarray(point, dtype=np.float64)
    ab = b - a
    length2 = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(np.einsum("ij,ij->i", q - a, ab) / np.where(length2 > 0, length2, 1.0), 0.0, 1.0)
    closest = a + t[:, None] * ab
    distance = np.hypot(*(closest - q).T)
    index = int(np.argmin(distance))
    return index, float(distance[index]), closest[index]


def insert_vertex(polygon: np.ndarray, point: tuple[float, float]) -> tuple[np.ndarray, int]:
    """Put a vertex on the edge nearest to point (at the closest point); returns (polygon, new index)."""
    p = np.asarray(polygon, dtype=np.float64)
    edge, _, closest = nearest_edge(p, point)
    if any(np.allclose(closest, p[k]) for k in (edge, (edge + 1) % len(p))):
        raise EditError("a vertex is already there")
    return np.insert(p, edge + 1, closest, axis=0), edge + 1


def delete_vertex(polygon: np.ndarray, index: int) -> np.ndarray:
    """The polygon without vertex ``index``; an outline keeps at least three vertices and some area."""
    p = np.asarray(polygon, dtype=np.float64)
    if not 0 <= index < len(p):
        raise EditError(f"no vertex {index} (the outline has {len(p)})")
    if len(p) <= MIN_VERTICES:
        raise EditError(f"an outline needs at least {MIN_VERTICES} vertices")
    result = np.delete(p, index, axis=0)
    if Polygon(result).area <= 0.0:
        raise EditError("deleting this vertex would leave an outline without area")
    return result


# --- brush ---------------------------------------------------------------------------------------

def stroke_shape(points: Sequence[tuple[float, float]], radius: float) -> BaseGeometry:
    """The area a round brush of this radius covers along a stroke (a disc for a single point)."""
    if radius <= 0:
        raise EditError(f"brush radius must be positive, got {radius}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise EditError("empty brush stroke")
    keep = np.r_[True, np.any(np.diff(pts, axis=0) != 0, axis=1)]
    pts = pts[keep]
    geometry = Point(pts[0]) if len(pts) == 1 else LineString(pts)
    return geometry.buffer(radius, quad_segs=8)


def brush_add(polygon: np.ndarray, stroke: BaseGeometry) -> np.ndarray:
    """The outline grown by a brush stroke; the stroke must touch or overlap it."""
    shape = to_shapely(polygon)
    if not shape.intersects(stroke):
        raise EditError("paint from inside the outline (the stroke does not touch it)")
    pieces = _pieces(shape.union(stroke), min_area=0.0)
    return pieces[0]


def brush_erase(polygon: np.ndarray, stroke: BaseGeometry,
                min_piece_area: float = MIN_PIECE_AREA) -> list[np.ndarray]:
    """What is left of the outline after erasing a stroke: one or more pieces, largest first.

    An empty list means nothing worth keeping is left (the caller may delete the outline).
    """
    shape = to_shapely(polygon)
    if not shape.intersects(stroke):
        raise EditError("the stroke does not touch the outline")
    return _pieces(shape.difference(stroke), min_area=min_piece_area)


# --- split and merge -----------------------------------------------------------------------------

def split_by_line(polygon: np.ndarray, line: Sequence[tuple[float, float]], *, extend: float = 0.0,
                  min_piece_area: float = MIN_PIECE_AREA) -> list[np.ndarray]:
    """Cut an outline along a polyline drawn across it; pieces largest first (at least two).

    extend lengthens both ends of the line along their last segment (a stroke that stops just
    short of the outline still cuts it through).
    """
    pts = np.asarray(line, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.r_[True, np.any(np.diff(pts, axis=0) != 0, axis=1)]]
    if len(pts) < 2:
        raise EditError("draw a line across the outline")
    if extend > 0:
        pts = np.vstack([_extended(pts[1], pts[0], extend), pts, _extended(pts[-2], pts[-1], extend)])
    shape = to_shapely(polygon)
    cut = LineString(pts)
    # A tiny buffer of the line turns the cut into an area difference, which works for lines
    # that cross themselves or the outline several times (shapely.ops.split needs clean input).
    pieces = _pieces(shape.difference(cut.buffer(0.01, quad_segs=1)), min_area=min_piece_area)
    if len(pieces) < 2:
        raise EditError("the line must cross the outline from one side to the other")
    return pieces


def merge_outlines(polygons: Sequence[np.ndarray], *, gap: float = 1.0) -> np.ndarray:
    """One outline covering outlines that overlap or touch (closer than ``gap`` px)."""
    if len(polygons) < 2:
        raise EditError("select at least two outlines to merge")
    shapes = [to_shapely(p) for p in polygons]
    merged = shapely.union_all(shapes)
    if not isinstance(merged, Polygon) and gap > 0:
        # Closing (grow, union, shrink) bridges outlines that touch along pixel edges or at
        # corners: mitred growth keeps corners where they were, and a rounded shrink keeps
        # a neck where two outlines only meet at a point (a mitred one would cut it again).
        grown = shapely.union_all([s.buffer(gap / 2.0, join_style="mitre") for s in shapes])
        merged = grown.buffer(-gap / 2.0, join_style="round").union(merged)
    if not isinstance(merged, Polygon) or merged.is_empty:
        raise EditError("the outlines do not touch or overlap, so they cannot be merged")
    return _pieces(merged, min_area=0.0)[0]


# --- helpers -------------------------------------------------------------------------------------

def _extended(inner: np.ndarray, end: np.ndarray, length: float) -> np.ndarray:
    direction = end - inner
    norm = float(np.hypot(*direction))
    return end + direction / norm * length


def _pieces(geometry: BaseGeometry, *, min_area: float) -> list[np.ndarray]:
    """Polygon parts of a shapely result as hole-free, simplified outlines, largest first."""
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if isinstance(g, Polygon) and not g.is_empty]
    outlines = []
    for part in sorted(parts, key=lambda g: g.area, reverse=True):
        shell = Polygon(part.exterior).simplify(SIMPLIFY_TOLERANCE, preserve_topology=True)
        if shell.area >= max(min_area, 1e-9) and len(shell.exterior.coords) > MIN_VERTICES:
            outlines.append(from_shapely(shapely.geometry.polygon.orient(shell, sign=1.0)))
    return outlines
