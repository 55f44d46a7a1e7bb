"""Classic (no neural network) chromosome segmentation of a metaphase image.

Pipeline: illumination correction -> Otsu/hysteresis foreground -> chromosome width estimate ->
drop interphase nuclei and tiny specks -> per component, a search over cuts between outline
concavities judged by a small piece model (single chromosome / cluster / fragment / debris) ->
outlines grown into the blurred rim -> one Instance per piece, flagged as a cluster when it
probably holds several chromosomes, dropped when it is probably debris.

Plain numpy / SciPy / OpenCV / scikit-image: about 0.1-0.5 s per image on one CPU core. The
CancelToken is checked between the thresholding steps and every few dozen components, so a
cancel returns within a fraction of a second even on a field of thousands of specks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.models.classic.background import darkness_map
from karyostudio.models.classic.seg_cuts import CutRules
from karyostudio.models.classic.seg_features import Component, distance_map, estimate_width, measure_components
from karyostudio.models.classic.seg_outline import grow_pieces, outline, rotated_box
from karyostudio.models.classic.seg_piece_features import CellStats
from karyostudio.models.classic.seg_piece_model import CLUSTER, DEBRIS, SINGLE, PieceModel
from karyostudio.models.classic.seg_piece_weights import WEIGHTS
from karyostudio.models.classic.separate import ScoredPiece, SearchRules, separate
from karyostudio.models.classic.threshold import fill_small_holes, hysteresis, otsu_level

SOURCE = "classic"


@dataclass(frozen=True)
class SegmentParams:
    """Tuning of :func:`segment_metaphase`. Sizes are in units of the estimated chromosome width w."""

    smooth_sigma: float = 1.0  # pixels; Gaussian smoothing of the darkness map against noise
    min_level: float = 0.05  # darkness floor of the Otsu level (blank images)
    low_factor: float = 1.0  # hysteresis: weak pixels above low_factor x Otsu ...
    high_factor: float = 1.2  # ... kept when connected to pixels above high_factor x Otsu
    max_hole_w2: float = 1.0  # fill holes up to this area (w^2)
    min_area_w2: float = 0.5  # smaller components are specks (w^2)
    nucleus_thickness_w: float = 1.6  # inscribed radius above this (w) ...
    nucleus_min_area_w2: float = 15.0  # ... on a compact blob this large (w^2) is a nucleus
    nucleus_min_solidity: float = 0.8  # nuclei are compact; clumps of chromosomes are not
    nucleus_border_w: float = 2.5  # compact blobs cut by the border over this length (w) are nuclei
    max_debris: float = 0.5  # pieces more likely debris than this are dropped
    grow_w: float = 0.5  # outlines grow by up to this (w) into the blurred rim ...
    grow_level: float = 0.2  # ... over pixels darker than this x Otsu
    cuts: CutRules = field(default_factory=CutRules)
    search: SearchRules = field(default_factory=SearchRules)


@dataclass(frozen=True)
class Foreground:
    """The thresholded image before separation."""

    dark: np.ndarray  # smoothed darkness map
    level: float  # Otsu level of the darkness map
    cell: CellStats
    components: list[Component]  # candidate chromosomes and clusters (nuclei, specks removed)


def _as_gray(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"segment_metaphase needs a 2-D grayscale image, got shape {img.shape}")
    if img.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"segment_metaphase needs uint8 or uint16 pixels, got {img.dtype}")
    return img


def find_components(image: np.ndarray, params: SegmentParams | None = None,
                    cancel: CancelToken | None = None) -> Foreground | None:
    """Threshold the image and measure its candidate components; None when nothing is there."""
    p = params or SegmentParams()
    img = _as_gray(image)
    dark, _ = darkness_map(img)
    check(cancel)
    if p.smooth_sigma > 0:
        dark = cv2.GaussianBlur(dark, (0, 0), p.smooth_sigma)
    level = otsu_level(dark, p.min_level)
    mask = hysteresis(dark, p.low_factor * level, p.high_factor * level)
    check(cancel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    width = estimate_width(labels, stats, distance_map(mask), min_area=30.0)
    check(cancel)
    mask = fill_small_holes(mask, p.max_hole_w2 * width ** 2)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    check(cancel)
    big = np.nonzero(stats[:, cv2.CC_STAT_AREA] >= p.min_area_w2 * width ** 2)[0]
    comps = measure_components(labels, stats, distance_map(mask), dark, big[big > 0], cancel)
    comps = [c for c in comps if not _is_nucleus(c, width, p)]
    if not comps:
        return None
    cell = CellStats(width=width, median_area=float(np.median([c.area for c in comps])),
                     median_darkness=float(np.median([c.darkness for c in comps])))
    return Foreground(dark=dark, level=level, cell=cell, components=comps)


def _is_nucleus(c: Component, width: float, p: SegmentParams) -> bool:
    """A large, thick, compact blob; or a compact blob cut by the image border (a partial nucleus)."""
    if c.solidity < p.nucleus_min_solidity:
        return False
    if c.thickness > p.nucleus_thickness_w * width and c.area > p.nucleus_min_area_w2 * width ** 2:
        return True
    return c.border_contact > p.nucleus_border_w * width


def component_windows(fg: Foreground, c: Component) -> tuple[np.ndarray, np.ndarray | None]:
    """Darkness and image-border masks over a component's window."""
    h, w = c.mask.shape
    H, W = fg.dark.shape
    dark = fg.dark[c.y0:c.y0 + h, c.x0:c.x0 + w]
    if c.border_contact == 0:
        return dark, None
    border = np.zeros((h, w), dtype=bool)
    if c.y0 == 0:
        border[0] = True
    if c.y0 + h == H:
        border[-1] = True
    if c.x0 == 0:
        border[:, 0] = True
    if c.x0 + w == W:
        border[:, -1] = True
    return dark, border


@lru_cache(maxsize=1)
def default_piece_model() -> PieceModel:
    """The shipped piece model (seg_piece_weights), loaded once."""
    return PieceModel.from_dict(WEIGHTS)


def segment_metaphase(image: np.ndarray, *, params: SegmentParams | None = None,
                      progress: ProgressCallback | None = None,
                      cancel: CancelToken | None = None) -> list[Instance]:
    """Outline every chromosome of a bright-field metaphase image (dark objects on a light slide).

    ``image`` is 2-D uint8 or uint16 grayscale. Returns Instances with ids 1..N, no label or
    score, source "classic", pixel-edge polygons and attributes:
      - ``cluster``: True when the outline probably holds several chromosomes it could not
        separate (touching side by side, tangled), and always when its skeleton has a four-way
        crossing (annotated boxes cannot teach the piece model crossings: the box around an X
        is about the box of either chromosome in it);
      - ``rotated_box``: [cx, cy, w, h, theta_deg], the minimum-area rectangle with h the long
        side (convention of karyostudio.geometry.rotated);
      - ``seg_score``: the piece model's probability that the outline is one whole chromosome,
        for ranking (the instance's ``score`` is left for the classifier).
    Reports progress per component; raises Cancelled when ``cancel`` is set.
    """
    p = params or SegmentParams()
    img = _as_gray(image)
    report(progress, 0, 1, "thresholding")
    check(cancel)
    fg = find_components(img, p, cancel)
    if fg is None:
        report(progress, 1, 1, "done")
        return []
    check(cancel)
    model = default_piece_model()
    width = fg.cell.width
    labels = np.zeros(img.shape, dtype=np.int32)
    kept: list[ScoredPiece] = []
    total = len(fg.components) + 1
    for i, c in enumerate(fg.components):
        report(progress, i, total, "separating touching chromosomes")
        dark, border = component_windows(fg, c)
        for piece in separate(c.mask, dark, border, fg.cell, model, p.cuts, p.search, cancel):
            if piece.probabilities[DEBRIS] > p.max_debris:
                continue
            kept.append(piece)
            h, w = piece.mask.shape
            y, x = c.y0 + piece.oy, c.x0 + piece.ox
            labels[y:y + h, x:x + w][piece.mask] = len(kept)
    check(cancel)
    report(progress, total - 1, total, "outlining")
    grown = grow_pieces(labels, len(kept), fg.dark, p.grow_w * width, p.grow_level * fg.level, cancel)
    instances = []
    for n, ((m, x0, y0), piece) in enumerate(zip(grown, kept)):
        if n % 64 == 0:
            check(cancel)
        poly = outline(m, x0, y0)
        if poly is None:
            continue
        probs = piece.probabilities
        instances.append(Instance(id=len(instances) + 1, polygon=poly, source=SOURCE, attributes={
            "cluster": bool(probs[CLUSTER] > probs[SINGLE] or piece.crossings > 0),
            "rotated_box": rotated_box(poly),
            "seg_score": round(float(probs[SINGLE]), 4),
        }))
    report(progress, total, total, "done")
    return instances
