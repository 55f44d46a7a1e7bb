"""Checks every reader applies to the outlines it reads: nothing absurd enters a document silently.

Annotation files in the wild hold zero-area outlines, self-intersecting "bow-tie" polygons,
coordinates at 1e9 or wholly outside the image (a shape pasted from another file), and image
sizes that contradict the image. ``checked_polygon`` repairs what can be repaired (a bow-tie is
replaced by its largest valid part, an outline reaching past the image is clipped to it) and
skips the rest, and in every case appends one line to the reader's report (``ann.skipped``,
shown by every command and by the app), ending in "; repaired", "; clipped" or "; skipped".
Outlines that are fine are returned unchanged (the very same array), so round trips stay exact.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import Polygon, box

MIN_AREA = 0.5  # px^2: smaller outlines hold no pixel
CLIP_SLACK = 2.0  # px an outline may reach past the image before it is clipped (and reported)
MAX_COORDINATE = 1e6  # |x| or |y| beyond this cannot belong to any image karyostudio reads


def checked_polygon(polygon: np.ndarray, image_size: tuple[int, int] | None, where: str,
                    report: list[str], *, box_only: bool = False) -> np.ndarray | None:
    """The outline to keep (``polygon`` itself when it is fine), or None when it is skipped.

    ``image_size`` is (width, height) when known. Box-only outlines (axis-aligned boxes) are
    never self-intersecting and are only checked against the image.
    """
    points = np.asarray(polygon, dtype=np.float64)
    if np.abs(points).max(initial=0.0) > MAX_COORDINATE and image_size is None:
        report.append(f"{where}: coordinates up to {np.abs(points).max():.3g} lie beyond any image; skipped")
        return None
    kept = points
    if not box_only:
        shape = Polygon(points)
        if not shape.is_valid:
            whole = shapely.make_valid(shape)
            repaired = _largest_part(whole)
            if repaired is None or repaired.area < MIN_AREA:
                report.append(f"{where}: the outline has no area (its {len(points)} points lie on a line "
                              "or on top of each other); skipped")
                return None
            if _nearly(repaired.area, whole.area) and _nearly(abs(shape.area), whole.area):
                pass  # a tiny loop or a touching vertex: harmless for masks, kept as drawn
            else:
                report.append(f"{where}: the outline crosses itself (a bow-tie); kept its largest valid part "
                              f"({repaired.area:.0f} of {whole.area:.0f} px\u00b2); repaired")
                kept = _exterior(repaired)
        elif shape.area < MIN_AREA:
            report.append(f"{where}: the outline has no area ({len(points)} points enclosing "
                          f"{shape.area:.2g} px\u00b2); skipped")
            return None
    if image_size is not None:
        kept = _clipped(kept, image_size, where, report)
    return kept


def _clipped(points: np.ndarray, image_size: tuple[int, int], where: str, report: list[str]) -> np.ndarray | None:
    width, height = image_size
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    if x0 >= -CLIP_SLACK and y0 >= -CLIP_SLACK and x1 <= width + CLIP_SLACK and y1 <= height + CLIP_SLACK:
        return points
    frame = box(0.0, 0.0, float(width), float(height))
    inside = _largest_part(Polygon(points).buffer(0).intersection(frame))
    extent = f"x {x0:.4g}..{x1:.4g}, y {y0:.4g}..{y1:.4g}"
    if inside is None or inside.area < MIN_AREA:
        report.append(f"{where}: the outline ({extent}) lies wholly outside the {width} x {height} image; skipped")
        return None
    report.append(f"{where}: the outline ({extent}) reaches outside the {width} x {height} image; "
                  f"clipped to the image")
    return _exterior(inside)


def _nearly(value: float, reference: float, tolerance: float = 0.01) -> bool:
    return abs(value - reference) <= tolerance * max(reference, 1.0)


def _largest_part(geometry) -> Polygon | None:
    """The largest polygon of a geometry (polygon, multipolygon or collection), or None."""
    if geometry is None or geometry.is_empty:
        return None
    if isinstance(geometry, Polygon):
        return geometry
    parts = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon) or hasattr(g, "geoms")]
    polygons = []
    for part in parts:
        best = _largest_part(part)
        if best is not None:
            polygons.append(best)
    return max(polygons, key=lambda p: p.area) if polygons else None


def _exterior(shape: Polygon) -> np.ndarray:
    coords = np.asarray(shape.exterior.coords, dtype=np.float64)
    return coords[:-1] if len(coords) > 1 and np.array_equal(coords[0], coords[-1]) else coords


def size_conflict(declared: tuple[int, int], actual: tuple[int, int], what: str) -> str:
    """The report line for a declared image size that contradicts the image itself."""
    swapped = " (width and height swapped: an EXIF-rotated photo?)" if declared == actual[::-1] else ""
    return (f"the file says the image is {declared[0]} x {declared[1]} px but {what} is {actual[0]} x "
            f"{actual[1]}{swapped}; the image's own size is used")
