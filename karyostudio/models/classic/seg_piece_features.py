"""Shape and darkness features of one candidate piece (a component or part of one).

Every feature is dimensionless: lengths are divided by the cell's chromosome width, areas and
darkness by the cell's median component, so one model serves images of any size and staining.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from karyostudio.models.classic.threshold import holes
from karyostudio.models.classic.seg_cuts import Cut, concavities
from karyostudio.models.classic.seg_features import outline_points, solidity
from karyostudio.models.classic.seg_skeleton import SkeletonInfo, analyse

FEATURE_NAMES: tuple[str, ...] = (
    "log_area_w2",  # area / w^2
    "log_area_rel",  # area / median component area of the cell
    "log_area_rel_sq",
    "log_skeleton_w",  # log(1 + skeleton length / w)
    "ends",  # skeleton end points after spur pruning (capped)
    "crossings",  # four-way junctions (capped)
    "solidity",  # area / convex hull area
    "log_aspect",  # long / short side of the minimum-area rectangle
    "log_aspect_sq",
    "ridge_width_w",  # median width along the medial ridge / w
    "ridge_width_p90_w",
    "thickness_w",  # widest inscribed disc / w
    "rel_darkness",  # mean darkness / cell median
    "rel_darkness_std",
    "rel_darkness_p10",  # palest tenth of the piece / cell median
    "hole_w2",  # enclosed background / w^2
    "border_w",  # pixels on the image border / w
    "contact_w",  # pixels touching sibling pieces of the same component / w (cut length)
    "max_concavity_w",  # deepest concavity of the outline / w
    "cut_depth_w",  # summed notch depth of the cut that made the piece / w (0: not cut)
    "cut_two_sided",  # 1 when that cut joined two notches
    "cut_across",  # |sin| of the angle between that cut and the piece's long axis
    "sibling_across",  # ... and between the cut and the long axis of the largest sibling piece
    "sibling_aligned",  # |cos| of the angle between the piece's and that sibling's long axes
)
NUM_FEATURES = len(FEATURE_NAMES)


@dataclass(frozen=True)
class CutContext:
    """How a piece was made: the cut, and the long axis of its largest sibling piece.

    A cut straight across a chromosome (a wrong cut) leaves two pieces whose axes both cross
    the cut and continue each other; a cut at a T-contact runs along the side of one piece.
    """

    cut: Cut
    sibling_axis: np.ndarray  # unit (x, y)


def principal_axis(mask: np.ndarray) -> np.ndarray:
    """Unit (x, y) direction of the mask's long axis (second moments)."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    theta = 0.5 * np.arctan2(2.0 * m["mu11"], m["mu20"] - m["mu02"])
    return np.array([np.cos(theta), np.sin(theta)])


@dataclass(frozen=True)
class CellStats:
    """What features of one cell are normalised by."""

    width: float
    median_area: float
    median_darkness: float


def piece_features(mask: np.ndarray, dark: np.ndarray, border: np.ndarray | None, cell: CellStats,
                   contact: float, context: CutContext | None = None) -> tuple[np.ndarray, SkeletonInfo]:
    """Feature vector (FEATURE_NAMES order) and skeleton of a window mask.

    ``dark`` is the darkness map over the same window; ``border`` marks window pixels on the
    image border (None when the window does not reach it); ``contact`` is the length (pixels)
    of the piece's boundary with the rest of its original component; ``context`` describes the
    last cut that made the piece (None for a whole component).
    """
    w = cell.width
    area = float(mask.sum())
    info = analyse(mask, w)
    m8 = mask.astype(np.uint8)
    pts = outline_points(mask)
    (_, _), (rw, rh), _ = cv2.minAreaRect(pts)
    aspect = (max(rw, rh) + 1.0) / (min(rw, rh) + 1.0)
    dist = cv2.distanceTransform(np.pad(m8, 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    ridge = (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))) & (dist > 0)
    ridge_w = 2.0 * dist[ridge] - 1.0 if ridge.any() else np.array([1.0])
    vals = dark[mask]
    ref = max(cell.median_darkness, 1e-6)
    hole_area = float(holes(mask).sum())
    _, concave = concavities(mask, 0.0)
    deepest = max((d for _, d in concave), default=0.0)
    log_area_rel = float(np.log(area / max(cell.median_area, 1.0)))
    log_aspect = float(np.log(aspect))
    feats = np.array([
        np.log(area / w ** 2),
        log_area_rel,
        log_area_rel ** 2,
        np.log1p(info.length / w),
        min(info.ends, 8),
        min(len(info.crossings), 4),
        solidity(pts, area),
        log_aspect,
        log_aspect ** 2,
        float(np.median(ridge_w)) / w,
        float(np.percentile(ridge_w, 90)) / w,
        (2.0 * float(dist.max()) - 1.0) / w,
        float(vals.mean()) / ref,
        float(vals.std()) / ref,
        float(np.percentile(vals, 10)) / ref,
        hole_area / w ** 2,
        (float((mask & border).sum()) if border is not None else 0.0) / w,
        contact / w,
        deepest / w,
        *_cut_features(mask, context, w),
    ], dtype=np.float64)
    return feats, info


def _cut_features(mask: np.ndarray, context: CutContext | None, width: float) -> tuple[float, ...]:
    if context is None:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    cut = context.cut
    d = cut.b - cut.a
    d = d / max(float(np.hypot(*d)), 1e-9)
    own = principal_axis(mask)
    sib = context.sibling_axis

    def across(axis: np.ndarray) -> float:
        return float(abs(d[0] * axis[1] - d[1] * axis[0]))

    return (cut.depth / width, float(cut.two_sided), across(own), across(sib),
            float(abs(own @ sib)))
