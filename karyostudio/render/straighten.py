"""Stand a chromosome upright (p arm up) for a karyogram, optionally straightened along its centreline.

Both modes sample the image along a centreline: each output row is one point of the line and
each column a step along its normal. Upright mode uses a straight line through the outline's
long axis (so the result is a plain rotation); straightened mode follows the chromosome's own
centreline (``attributes["skeleton"]`` when the instance has one, else the longest path through
the skeleton of its mask), so a bent chromosome comes out straight; "auto" straightens only the
chromosomes that are bent (their centreline strays from the line between its ends), so straight
ones keep the plain rotation. Only pixels inside the instance's own outline are kept; the rest is
white and masked out. Sampling never mixes the white outside into the chromosome's edge pixels
(the outside is filled with the nearest inside values first), and ``Strip.alpha`` gives an
anti-aliased coverage, so a cut-out scaled or composited anywhere has no light halo.

Which end goes up: the instance's ``skeleton`` / ``endpoints`` (p end first) or ``centromere``
decide when present. Otherwise a guess: the narrowest point of the width profile away from the
ends is taken as the centromere and the shorter arm put up (``Strip.p_arm_known`` is False).
A reviewer's flips (karyostudio.core.orientation) are applied last. Where the instance's data
places the centromere, ``Strip.centromere`` gives its row (for aligning homologues).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter1d
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from karyostudio.core.instance import Instance
from karyostudio.core.orientation import Orientation, orientation_of
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.render.cutout import WHITE, long_axis_angle

_PAD = 3  # pixels around the outline's box, so sampling near the edge stays inside the crop
_MIN_SKELETON_POINTS = 5
_SMOOTH_SIGMA = 2.0  # px, centreline smoothing before sampling (pixel-grid skeletons zig-zag)
_CONSTRICTION_DEPTH = 0.9  # a width dip below this share of the median width counts as a centromere
BENT_MIN_PX = 3.0  # "auto" straightens a chromosome whose centreline strays this far from its chord ...
BENT_RATIO = 0.1  # ... and at least this share of the chord's length
AUTO = "auto"
_OWNERSHIP_ROWS = 2  # a sample shows in its row when its nearest centreline point is this close
_BAND_FACTOR = 1.3  # the band sampled around a bent chromosome's centreline, in local half-widths
_KEPT_AREA = (0.75, 1.25)  # "auto" keeps a straightened strip only when its area stays this close


@dataclass(frozen=True)
class Strip:
    """An upright chromosome: pixels (uint8, white outside the mask) and its mask, p arm up."""

    pixels: np.ndarray
    mask: np.ndarray
    p_arm_known: bool  # the instance's data said which end is p; False when guessed
    alpha: np.ndarray | None = None  # uint8 coverage 0..255 (anti-aliased mask); None: the mask
    ink: np.ndarray | None = None  # uint8 gray with the outside filled from the nearest inside pixel
    centromere: float | None = None  # row of the centromere when the instance's data gives it
    straightened: bool = False

    @property
    def coverage(self) -> np.ndarray:
        """uint8 alpha: the anti-aliased coverage, else the hard mask."""
        return self.alpha if self.alpha is not None else np.where(self.mask, 255, 0).astype(np.uint8)

    @property
    def fill(self) -> np.ndarray:
        """uint8 gray to composite with ``coverage`` (never white at the edges)."""
        return self.ink if self.ink is not None else self.pixels

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape


def chromosome_strip(gray: np.ndarray, instance: Instance, *, straighten: bool | str = False,
                     orientation: Orientation | None = None) -> Strip | None:
    """The chromosome upright (optionally straightened); None when its outline covers no pixel.

    straighten: False (a rotation), True (follow the centreline) or "auto" (only when bent).
    orientation defaults to the reviewer's correction stored on the instance.
    """
    if gray.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    crop = _crop(gray, instance)
    if crop is None:
        return None
    patch, mask, offset = crop
    line = _skeleton_centreline(instance, mask, offset) if straighten else None
    if line is not None and straighten == AUTO and not is_bent(line):
        line = None
    straightened = line is not None
    if line is None:
        line = _axis_centreline(instance, mask)
    reverse = _p_end_is_last(instance, line + offset)
    filled = _fill_outside(patch, mask)
    ink, soft = _sample(filled, mask, line, _band_width(mask, line) if straightened else _half_width(mask, line))
    if straightened and straighten == AUTO and not _KEPT_AREA[0] <= soft.sum() / mask.sum() <= _KEPT_AREA[1]:
        straightened, line = False, _axis_centreline(instance, mask)  # a branched or odd shape: just turn it
        reverse = _p_end_is_last(instance, line + offset)
        ink, soft = _sample(filled, mask, line, _half_width(mask, line))
    strip_mask = soft >= 0.5
    pixels = np.where(strip_mask, ink, WHITE).astype(np.uint8)
    rows = np.arange(len(line), dtype=np.float64)  # which centreline point each row shows
    known = reverse is not None
    if reverse is None:
        reverse = _guess_p_end_is_last(strip_mask)
    layers = [pixels, strip_mask, ink, soft]
    if reverse:  # a turn by 180 degrees, not a mirror image
        layers, rows = [a[::-1, ::-1] for a in layers], rows[::-1]
    fix = orientation if orientation is not None else orientation_of(instance)
    if fix.flip_vertical:
        layers, rows = [a[::-1] for a in layers], rows[::-1]
    if fix.flip_horizontal:
        layers = [a[:, ::-1] for a in layers]
    pixels, strip_mask, ink, soft = layers
    found_rows, found_cols = np.nonzero(strip_mask)
    if len(found_rows) == 0:
        return None
    r0, r1 = found_rows.min(), found_rows.max() + 1
    box = (slice(r0, r1), slice(found_cols.min(), found_cols.max() + 1))
    centromere = _centromere_row(instance, line + offset, rows[r0:r1])
    alpha = np.round(np.clip(soft[box], 0.0, 1.0) * 255.0).astype(np.uint8)
    return Strip(np.ascontiguousarray(pixels[box]), np.ascontiguousarray(strip_mask[box]), known,
                 alpha=np.ascontiguousarray(alpha), ink=np.ascontiguousarray(ink[box]), centromere=centromere,
                 straightened=straightened)


def is_bent(line: np.ndarray) -> bool:
    """True when a centreline strays from the chord between its ends (a bent chromosome)."""
    chord = line[-1] - line[0]
    length = float(np.hypot(*chord))
    if length < 1e-6:
        return False
    normal = np.array([-chord[1], chord[0]]) / length
    deviation = float(np.abs((line - line[0]) @ normal).max())
    return deviation > max(BENT_MIN_PX, BENT_RATIO * length)


def _fill_outside(patch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The patch with every outside pixel set to its nearest inside pixel (no white at the edges)."""
    if mask.all():
        return patch
    _, (rows, cols) = distance_transform_edt(~mask, return_indices=True)
    return patch[rows, cols]


def _centromere_row(instance: Instance, line: np.ndarray, rows: np.ndarray) -> float | None:
    """The strip row showing the centromere the instance's data gives (None without one)."""
    centromere = _points(instance.attributes.get("centromere"))
    if centromere is None or len(centromere) != 1 or len(rows) == 0:
        return None
    index = _nearest_index(line, centromere[0])
    return float(np.argmin(np.abs(rows - index)))


def _crop(gray: np.ndarray, instance: Instance) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    h_img, w_img = gray.shape
    x0, y0, x1, y1 = instance.bbox
    c0, r0 = max(0, int(math.floor(x0)) - _PAD), max(0, int(math.floor(y0)) - _PAD)
    c1, r1 = min(w_img, int(math.ceil(x1)) + _PAD), min(h_img, int(math.ceil(y1)) + _PAD)
    if c1 <= c0 or r1 <= r0:
        return None
    mask = polygon_to_mask(instance.polygon - (c0, r0), (r1 - r0, c1 - c0))
    if not mask.any():
        return None
    patch = np.where(mask, gray[r0:r1, c0:c1], WHITE).astype(np.uint8)
    return patch, mask, np.array([c0, r0], dtype=np.float64)


# --- centrelines (crop coordinates, x y) ---------------------------------------------------------

def _axis_centreline(instance: Instance, mask: np.ndarray) -> np.ndarray:
    """A straight line along the long axis through the mask's centroid, covering its extent."""
    rows, cols = np.nonzero(mask)
    points = np.column_stack([cols, rows]).astype(np.float64)
    centre = points.mean(axis=0)
    angle = math.radians(long_axis_angle(instance))
    axis = np.array([math.cos(angle), math.sin(angle)])
    along = (points - centre) @ axis
    steps = np.arange(math.floor(along.min()) - 1.0, math.ceil(along.max()) + 2.0)
    return centre + steps[:, None] * axis


def _skeleton_centreline(instance: Instance, mask: np.ndarray, offset: np.ndarray) -> np.ndarray | None:
    stored = instance.attributes.get("skeleton")
    path = None
    if stored is not None:
        try:
            path = np.asarray(stored, dtype=np.float64).reshape(-1, 2) - offset
        except (TypeError, ValueError):
            path = None
    if path is None or len(path) < 2:
        path = _longest_skeleton_path(mask)
    if path is None or len(path) < 2:
        return None
    path = _extend_to_boundary(path, mask)
    if len(path) >= _MIN_SKELETON_POINTS:
        path = gaussian_filter1d(path, _SMOOTH_SIGMA, axis=0, mode="nearest")
    return _resample(path, 1.0)


def _longest_skeleton_path(mask: np.ndarray) -> np.ndarray | None:
    """The longest path through the mask's skeleton (two breadth-first searches on its pixels)."""
    skeleton = skeletonize(mask)
    rows, cols = np.nonzero(skeleton)
    if len(rows) < _MIN_SKELETON_POINTS:
        return None
    index = {(r, c): k for k, (r, c) in enumerate(zip(rows.tolist(), cols.tolist()))}
    neighbours = [[index[(r + dr, c + dc)] for dr in (-1, 0, 1) for dc in (-1, 0, 1)
                   if (dr or dc) and (r + dr, c + dc) in index] for r, c in zip(rows.tolist(), cols.tolist())]

    def farthest(start: int) -> tuple[int, list[int]]:
        parent = {start: -1}
        queue, last = deque([start]), start
        while queue:
            last = queue.popleft()
            for n in neighbours[last]:
                if n not in parent:
                    parent[n] = last
                    queue.append(n)
        path = [last]
        while parent[path[-1]] != -1:
            path.append(parent[path[-1]])
        return last, path

    end, _ = farthest(0)
    _, path = farthest(end)
    return np.column_stack([cols[path], rows[path]]).astype(np.float64)


def _extend_to_boundary(path: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Prolong both ends along their direction until they leave the mask (skeletons stop short)."""
    def extension(end: np.ndarray, before: np.ndarray) -> list[np.ndarray]:
        direction = end - before
        norm = float(np.hypot(*direction))
        if norm < 1e-9:
            return []
        direction /= norm
        out, point = [], end.copy()
        for _ in range(max(mask.shape)):
            point = point + direction
            r, c = int(round(point[1])), int(round(point[0]))
            if not (0 <= r < mask.shape[0] and 0 <= c < mask.shape[1]) or not mask[r, c]:
                break
            out.append(point)
        return out + [point + direction] if out else [end + direction]

    k = min(len(path) - 1, 5)
    head = extension(path[0], path[k])[::-1]
    tail = extension(path[-1], path[-1 - k])
    return np.vstack([*head, path, *tail]) if head or tail else path


def _resample(path: np.ndarray, step: float) -> np.ndarray:
    seg = np.hypot(*np.diff(path, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] < step:
        return path
    at = np.arange(0.0, arc[-1] + 1e-9, step)
    return np.column_stack([np.interp(at, arc, path[:, 0]), np.interp(at, arc, path[:, 1])])


# --- sampling --------------------------------------------------------------------------------------

def _band_width(mask: np.ndarray, line: np.ndarray) -> float:
    """Half-width of the band sampled around a bent chromosome's centreline: its own width, so a
    branch of the outline (a touching neighbour's piece) does not stick out sideways."""
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    r = np.clip(np.round(line[:, 1]).astype(int), 0, mask.shape[0] - 1)
    c = np.clip(np.round(line[:, 0]).astype(int), 0, mask.shape[1] - 1)
    along = distance[r, c]
    along = along[along > 0]
    if along.size == 0:
        return _half_width(mask, line)
    return min(_half_width(mask, line), _BAND_FACTOR * float(np.percentile(along, 90)) + 1.5)


def _half_width(mask: np.ndarray, line: np.ndarray) -> float:
    rows, cols = np.nonzero(mask)
    distances, _ = cKDTree(line).query(np.column_stack([cols, rows]))
    return float(distances.max()) + 1.0


def _sample(patch: np.ndarray, mask: np.ndarray, line: np.ndarray, half_width: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Gray values (uint8) and soft coverage (float 0..1) along the line, rows along it."""
    tangent = np.gradient(line, axis=0)
    if len(line) >= _MIN_SKELETON_POINTS:
        tangent = gaussian_filter1d(tangent, _SMOOTH_SIGMA, axis=0, mode="nearest")
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-9)[:, None]
    # Normal (t_y, -t_x): rows along the tangent and columns along this normal keep the image's
    # handedness, so the result is a rotation of the chromosome, never its mirror image.
    normal = np.column_stack([tangent[:, 1], -tangent[:, 0]])
    offsets = np.arange(-math.ceil(half_width), math.ceil(half_width) + 1, dtype=np.float64)
    coords = line[:, None, :] + offsets[None, :, None] * normal[:, None, :]
    map_x, map_y = coords[..., 0].astype(np.float32), coords[..., 1].astype(np.float32)
    pixels = cv2.remap(patch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    soft = cv2.remap(mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0.0)
    if len(line) >= _MIN_SKELETON_POINTS:
        # Each sample belongs to the row whose centreline point is nearest to it: at a bend the
        # normals of one row reach into another part of the chromosome, which must not show twice.
        _, nearest = cKDTree(line).query(coords.reshape(-1, 2))
        rows = np.arange(len(line))[:, None]
        owned = np.abs(nearest.reshape(coords.shape[:2]) - rows) <= _OWNERSHIP_ROWS
        soft = np.where(owned, soft, 0.0).astype(np.float32)
    return pixels.astype(np.uint8), soft


# --- which end is p --------------------------------------------------------------------------------

def _p_end_is_last(instance: Instance, line: np.ndarray) -> bool | None:
    """True/False when the instance's data says which end of the line is the p end, else None."""
    attrs = instance.attributes
    for key in ("endpoints", "skeleton"):
        points = _points(attrs.get(key))
        if points is not None and len(points) >= 2 and not np.allclose(points[0], points[-1]):
            p_end, q_end = points[0], points[-1]
            return _nearest_index(line, p_end) > _nearest_index(line, q_end)
    centromere = _points(attrs.get("centromere"))
    if centromere is not None and len(centromere) == 1:
        return _nearest_index(line, centromere[0]) > (len(line) - 1) / 2.0
    return None


def _points(value) -> np.ndarray | None:
    if value is None:
        return None
    try:
        points = np.asarray(value, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        return None
    return points if np.all(np.isfinite(points)) else None


def _nearest_index(line: np.ndarray, point: np.ndarray) -> int:
    return int(np.argmin(np.hypot(line[:, 0] - point[0], line[:, 1] - point[1])))


def _guess_p_end_is_last(mask: np.ndarray) -> bool:
    """Guess from the width profile: the deepest constriction away from the tips is the centromere."""
    widths = gaussian_filter1d(mask.sum(axis=1).astype(np.float64), 1.5)
    rows = np.nonzero(widths > 0)[0]
    if len(rows) < 10:
        return False
    first, last = rows[0], rows[-1]
    length = last - first
    inner = slice(first + int(0.15 * length), last - int(0.15 * length) + 1)
    profile = widths[inner]
    if len(profile) == 0 or profile.min() >= _CONSTRICTION_DEPTH * np.median(widths[first:last + 1]):
        return False  # no clear centromere: keep the line's own direction
    centromere = inner.start + int(np.argmin(profile))
    return centromere - first > last - centromere
