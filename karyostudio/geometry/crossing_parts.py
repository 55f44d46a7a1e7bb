"""The pieces a crossing-overlap cluster falls into, and ChromSeg's ray emission between them.

Stage two of ChromSeg (Cao et al., Algorithm 1) works on two kinds of blocks:
  - overlap blocks V_i: 8-connected regions of the crossing-overlap map (pixels two chromosomes
    cover), and
  - non-overlap blocks S_j: the rest of the foreground, cut into pieces at the overlaps.

The split is a marker watershed: markers are the foreground-only regions after a thin ring
(``part_gap`` px) around every overlap is taken away, so two arms that meet only at the sharp
tip of an overlap are not one block; the flood then gives the ring pixels back to the nearest
marker. Blocks smaller than ``min_part_area`` px seed nothing (they are noise of predicted maps)
and are flooded by their neighbours.

``emit_ray`` is Algorithm 1's Ray Emit: from a non-overlap block's centre through an overlap
block's centre and on past it, reporting the first other block the ray enters within the
overlap's disk area (the overlap dilated by the disk radius).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage
from skimage.segmentation import watershed

_FOUR = ndimage.generate_binary_structure(2, 1)
_EIGHT = ndimage.generate_binary_structure(2, 2)
_RAY_STEP = 0.5  # px between samples along a ray


@dataclass(frozen=True)
class Blocks:
    """Labelled blocks of one cluster: 0 is 'none', 1..n the blocks (same shape as the input)."""

    overlap_labels: np.ndarray  # int32, 1..n_overlaps
    part_labels: np.ndarray  # int32, 1..n_parts
    n_overlaps: int
    n_parts: int


def disk(radius: float) -> np.ndarray:
    """A filled disk structuring element of the given radius (uint8, odd side)."""
    r = max(0, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    if radius <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), disk(radius)).astype(bool)


def split_blocks(foreground: np.ndarray, crossing: np.ndarray, *, min_overlap_area: int,
                 min_part_area: int, part_gap: int, max_grow: int = 0) -> Blocks:
    """Overlap and non-overlap blocks of a cluster (see the module docstring)."""
    fg = np.asarray(foreground, dtype=bool)
    cross = np.asarray(crossing, dtype=bool) & fg
    overlap_labels, n_overlaps = ndimage.label(cross, structure=_EIGHT)
    if n_overlaps:
        sizes = ndimage.sum_labels(cross, overlap_labels, index=np.arange(1, n_overlaps + 1))
        big = sizes >= min_overlap_area
        relabel = np.concatenate([[0], np.cumsum(big) * big])
        overlap_labels = relabel[overlap_labels].astype(np.int32)  # tiny overlaps become plain foreground
        n_overlaps = int(relabel.max())
        cross = overlap_labels > 0
    if n_overlaps and max_grow > 0:
        overlap_labels = grow_enclosed_overlaps(fg, overlap_labels, n_overlaps, max_grow, min_part_area)
        cross = overlap_labels > 0
    rest = fg & ~cross
    core = rest & ~dilate(cross, part_gap)
    markers, n_markers = ndimage.label(core, structure=_FOUR)
    if n_markers:
        sizes = ndimage.sum_labels(core, markers, index=np.arange(1, n_markers + 1))
        big = sizes >= min_part_area
        relabel = np.concatenate([[0], np.cumsum(big) * big])
        markers = relabel[markers]
    n_parts = int(markers.max()) if markers.size else 0
    if n_parts:
        parts = watershed(np.zeros(fg.shape, dtype=np.uint8), markers.astype(np.int32), mask=rest, connectivity=1)
    else:
        parts = np.zeros(fg.shape, dtype=np.int32)
    return Blocks(overlap_labels.astype(np.int32), parts.astype(np.int32), n_overlaps, n_parts)


def _arms_around(fg: np.ndarray, region: np.ndarray, min_part_area: int) -> int:
    """Foreground pieces (4-connected, >= min_part_area px) left around a region that touch it."""
    labels, n = ndimage.label(fg & ~region, structure=_FOUR)
    if n == 0:
        return 0
    touching = np.unique(labels[dilate(region, 1) & (labels > 0)])
    sizes = ndimage.sum_labels(fg & ~region, labels, index=touching)
    return int(np.count_nonzero(sizes >= min_part_area))


def grow_enclosed_overlaps(fg: np.ndarray, overlap_labels: np.ndarray, n_overlaps: int, max_grow: int,
                           min_part_area: int) -> np.ndarray:
    """Grow, inside the foreground, every overlap that cuts nothing (fewer than two arms around it)
    to the radius (up to ``max_grow`` px) that leaves the most arms around it.

    A predicted crossing map often marks only the core of a crossing: a blob that the arms'
    foreground still surrounds. The true overlap spans both chromosomes' width, so it is grown
    until it cuts them apart. Overlaps that already separate two or more arms are left alone.
    """
    out = overlap_labels.copy()
    for i, sl in enumerate(ndimage.find_objects(overlap_labels), start=1):
        if sl is None:
            continue
        window = _grown_window(sl, fg.shape, max_grow + 2)
        own = overlap_labels[window] == i
        local_fg = fg[window] & ~((overlap_labels[window] > 0) & ~own)
        if _arms_around(local_fg, own, min_part_area) >= 2:
            continue
        best_radius, best_arms = 0, 1
        for radius in range(1, max_grow + 1):
            arms = _arms_around(local_fg, dilate(own, radius) & local_fg, min_part_area)
            if arms > best_arms:
                best_radius, best_arms = radius, arms
        if best_radius:
            grown = dilate(own, best_radius) & local_fg
            out[window][grown & (out[window] == 0)] = i
    return out


def neighbours(blocks: Blocks, contact: int) -> dict[int, list[int]]:
    """Build Dictionary: overlap label -> sorted labels of the parts within ``contact`` px of it."""
    out: dict[int, list[int]] = {}
    for i, sl in enumerate(ndimage.find_objects(blocks.overlap_labels), start=1):
        window = _grown_window(sl, blocks.part_labels.shape, contact + 1)
        grown = dilate(blocks.overlap_labels[window] == i, contact + 1)
        touched = np.unique(blocks.part_labels[window][grown])
        out[i] = [int(t) for t in touched if t > 0]
    return out


def _grown_window(sl: tuple[slice, slice], shape: tuple[int, int], pad: int) -> tuple[slice, slice]:
    return (slice(max(sl[0].start - pad, 0), min(sl[0].stop + pad, shape[0])),
            slice(max(sl[1].start - pad, 0), min(sl[1].stop + pad, shape[1])))


def background_contact(blocks: Blocks, overlap: int) -> float:
    """Share of the one-pixel rim around an overlap block that is background."""
    sl = ndimage.find_objects((blocks.overlap_labels == overlap).astype(np.int32))[0]
    window = _grown_window(sl, blocks.overlap_labels.shape, 2)
    own = blocks.overlap_labels[window] == overlap
    rim = dilate(own, 1) & ~own
    background = (blocks.part_labels[window] == 0) & (blocks.overlap_labels[window] == 0)
    return float((rim & background).sum() / max(int(rim.sum()), 1))


@dataclass(frozen=True)
class DiskArea:
    """One overlap block's disk area (a window of the cluster) and the centres Algorithm 1 uses."""

    window: tuple[slice, slice]
    area: np.ndarray  # bool, the overlap dilated by the disk radius, in window coordinates
    centre: np.ndarray  # (x, y) of the overlap block, in cluster coordinates
    reach: float  # farthest distance from the centre to a disk-area pixel


def disk_area(blocks: Blocks, overlap: int, radius: float) -> DiskArea:
    sl = ndimage.find_objects((blocks.overlap_labels == overlap).astype(np.int32))[0]
    window = _grown_window(sl, blocks.overlap_labels.shape, int(np.ceil(radius)) + 1)
    area = dilate(blocks.overlap_labels[window] == overlap, radius)
    ys, xs = np.nonzero(blocks.overlap_labels[window] == overlap)
    centre = np.array([xs.mean() + window[1].start, ys.mean() + window[0].start])
    ay, ax = np.nonzero(area)
    reach = float(np.hypot(ax + window[1].start - centre[0], ay + window[0].start - centre[1]).max())
    return DiskArea(window, area, centre, reach)


def part_centre(blocks: Blocks, part: int, disk_area_: DiskArea) -> np.ndarray | None:
    """Centre (x, y) of a part's pixels inside the disk area (None when it has none there).

    Only the pixels near the overlap count, so a long or curled chromosome arm does not pull
    its centre away from the direction in which it leaves the crossing.
    """
    inside = (blocks.part_labels[disk_area_.window] == part) & disk_area_.area
    ys, xs = np.nonzero(inside)
    if len(xs) == 0:
        return None
    return np.array([xs.mean() + disk_area_.window[1].start, ys.mean() + disk_area_.window[0].start])


def emit_ray(blocks: Blocks, source: int, source_centre: np.ndarray, disk_area_: DiskArea,
             candidates: set[int]) -> int | None:
    """The first part other than ``source`` that the ray from source's centre through the
    overlap's centre enters inside the disk area, if it is one of ``candidates``.

    The ray passes through overlap and background; it stops at the first other part (a part
    that is no candidate blocks it: it belongs to a chromosome that does not cross here) or at
    the edge of the disk area's reach.
    """
    direction = disk_area_.centre - source_centre
    norm = float(np.hypot(*direction))
    if norm < 1e-9:
        return None
    direction = direction / norm
    steps = np.arange(0.0, disk_area_.reach + _RAY_STEP, _RAY_STEP)
    xs = np.rint(disk_area_.centre[0] + steps * direction[0]).astype(np.int64)
    ys = np.rint(disk_area_.centre[1] + steps * direction[1]).astype(np.int64)
    (r0, r1), (c0, c1) = (disk_area_.window[0].start, disk_area_.window[0].stop), \
                         (disk_area_.window[1].start, disk_area_.window[1].stop)
    inside = (ys >= r0) & (ys < r1) & (xs >= c0) & (xs < c1)
    xs, ys = xs[inside], ys[inside]
    in_disk = disk_area_.area[ys - r0, xs - c0]
    labels = blocks.part_labels[ys, xs]
    for label, scoped in zip(labels, in_disk):
        if label == 0 or label == source or not scoped:
            continue
        return int(label) if int(label) in candidates else None
    return None
