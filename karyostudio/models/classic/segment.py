"""Classic (no neural network) chromosome segmentation of a metaphase image.

Pipeline: illumination correction -> Otsu/hysteresis foreground -> chromosome width estimate ->
drop interphase nuclei and debris -> split touching chromosomes where the evidence is clear ->
one Instance per remaining piece, flagged as a cluster when it probably holds several.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.models.classic.background import darkness_map
from karyostudio.models.classic.seg_features import Component, distance_map, estimate_width, measure_components
from karyostudio.models.classic.seg_outline import grow_pieces, outline
from karyostudio.models.classic.separate import SplitRules, separate
from karyostudio.models.classic.threshold import fill_small_holes, hysteresis, otsu_level

SOURCE = "classic"


@dataclass(frozen=True)
class SegmentParams:
    """Tuning of :func:`segment_metaphase`. Sizes are in units of the estimated chromosome width w."""

    smooth_sigma: float = 1.0  # pixels; Gaussian smoothing of the darkness map against noise
    min_level: float = 0.05  # darkness floor of the Otsu level (blank images)
    low_factor: float = 0.6  # hysteresis: weak pixels above low_factor x Otsu ...
    high_factor: float = 1.0  # ... kept when connected to pixels above high_factor x Otsu
    max_hole_w2: float = 1.0  # fill holes up to this area (w^2)
    min_area_w2: float = 0.8  # smaller components are debris (w^2)
    min_rel_darkness: float = 0.5  # components paler than this x the median are debris
    nucleus_thickness_w: float = 1.6  # inscribed radius above this (w) ...
    nucleus_min_area_w2: float = 15.0  # ... on a blob this large (w^2) is an interphase nucleus
    nucleus_min_solidity: float = 0.8  # nuclei are compact; clumps of chromosomes are not
    nucleus_border_w: float = 2.5  # compact blobs cut by the border over this length (w) are nuclei
    max_single_area_rel: float = 3.0  # pieces larger than this x the cell's median are clusters
    crossing_clearance_w: float = 1.5
    grow_w: float = 0.25  # outlines grow by up to this (w) into the blurred rim ...
    grow_level: float = 0.25  # ... over pixels darker than this x Otsu


def _as_gray(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"segment_metaphase needs a 2-D grayscale image, got shape {img.shape}")
    if img.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"segment_metaphase needs uint8 or uint16 pixels, got {img.dtype}")
    return img


def segment_metaphase(image: np.ndarray, *, params: SegmentParams | None = None,
                      progress: ProgressCallback | None = None,
                      cancel: CancelToken | None = None) -> list[Instance]:
    """Outline every chromosome of a bright-field metaphase image (dark objects on a light slide).

    Returns Instances with ids 1..N, no label or score, source "classic", pixel-edge polygons and
    attributes ``cluster`` (bool: probably several chromosomes that were not separated) and
    ``rotated_box`` ([cx, cy, w, h, theta_deg], see :func:`rotated_box`).
    Raises Cancelled when ``cancel`` is set between stages.
    """
    p = params or SegmentParams()
    img = _as_gray(image)
    total = 4
    report(progress, 0, total, "correcting illumination")
    check(cancel)
    dark, _ = darkness_map(img)
    if p.smooth_sigma > 0:
        dark = cv2.GaussianBlur(dark, (0, 0), p.smooth_sigma)
    check(cancel)
    report(progress, 1, total, "thresholding")
    level = otsu_level(dark, p.min_level)
    mask = hysteresis(dark, p.low_factor * level, p.high_factor * level)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        report(progress, total, total, "done")
        return []
    dist = distance_map(mask)
    width = estimate_width(labels, stats, dist, min_area=30.0)
    mask = fill_small_holes(mask, p.max_hole_w2 * width ** 2)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    dist = distance_map(mask)
    check(cancel)
    report(progress, 2, total, "measuring objects")
    big = np.nonzero(stats[:, cv2.CC_STAT_AREA] >= p.min_area_w2 * width ** 2)[0]
    comps = measure_components(labels, stats, dist, dark, big[big > 0])
    comps = [c for c in comps if not _is_nucleus(c, width, p)]
    if comps:
        ref = float(np.median([c.darkness for c in comps]))
        comps = [c for c in comps if c.darkness >= p.min_rel_darkness * ref]
    check(cancel)
    report(progress, 3, total, "separating touching chromosomes")
    rules = _split_rules(p, comps, width)
    pieces = np.zeros(mask.shape, dtype=np.int32)
    clusters: list[bool] = []
    for c in comps:
        check(cancel)
        h, w = c.mask.shape
        for piece in separate(c.mask, width, rules):
            clusters.append(piece.cluster)
            pieces[c.y0:c.y0 + h, c.x0:c.x0 + w][piece.mask] = len(clusters)
    grown = grow_pieces(pieces, len(clusters), dark, p.grow_w * width, p.grow_level * level)
    instances = []
    for (m, x0, y0), cluster in zip(grown, clusters):
        poly = outline(m, x0, y0)
        if poly is None:
            continue
        instances.append(Instance(id=len(instances) + 1, polygon=poly, source=SOURCE,
                                  attributes={"cluster": cluster, "rotated_box": rotated_box(poly)}))
    report(progress, total, total, "done")
    return instances


def _split_rules(p: SegmentParams, comps: list, width: float) -> SplitRules:
    """Separation thresholds for this cell; the largest single chromosome scales with the median one."""
    median_area = float(np.median([c.area for c in comps])) if comps else float("inf")
    return SplitRules(max_single_area=p.max_single_area_rel * median_area, crossing_clearance_w=p.crossing_clearance_w)


def _is_nucleus(c: Component, width: float, p: SegmentParams) -> bool:
    """A large, thick, compact blob; or a compact blob cut by the image border (a partial nucleus)."""
    if c.solidity < p.nucleus_min_solidity:
        return False
    if c.thickness > p.nucleus_thickness_w * width and c.area > p.nucleus_min_area_w2 * width ** 2:
        return True
    return c.border_contact > p.nucleus_border_w * width


def rotated_box(polygon: np.ndarray) -> list[float]:
    """[cx, cy, w, h, theta_deg] of the minimum-area rectangle, h the long side.

    Same convention as karyostudio.geometry.rotated: theta in [0, 180) degrees is the clockwise
    (on screen, y down) rotation of the upright box, the w side runs along (cos t, sin t).
    """
    (cx, cy), (rw, rh), ang = cv2.minAreaRect(np.asarray(polygon, dtype=np.float32))
    if rw > rh:
        rw, rh, ang = rh, rw, ang + 90.0
    return [float(cx), float(cy), float(rw), float(rh), float(np.mod(ang, 180.0))]
