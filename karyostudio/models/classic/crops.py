"""Single-chromosome crops for the classifier: cut out, straighten the long axis, fit a fixed size.

Every crop is made the same way whether its outline comes from segmentation (a polygon) or
from a training box (a mask derived inside the box, see :func:`crop_from_box`), so the
classifier sees the same kind of picture in training and in use.

Crop values are *darkness*: 0 is the empty slide (and everything outside the chromosome's own
mask, neighbours included), 1 the darkest chromatin of the cell. The long axis (first principal
axis of the mask) is vertical; the crop is scaled to fit ``out_size`` without changing its aspect
ratio, so thin and short chromosomes keep their shape. Which end is up cannot be known without
a centromere model; the end holding more dark mass is put on top, which is consistent for many
chromosomes but not all, so training also flips crops upside down.

Absolute size is lost by fitting, so each crop comes with scalar features measured relative to
the cell's median chromosome (:data:`FEATURE_NAMES`): relative length is the strongest single
cue for the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from karyostudio.geometry.polygons import polygon_to_mask

DEFAULT_OUT_SIZE: tuple[int, int] = (64, 32)  # (height, width)

# What a crop's pixels mean, as a model's manifest states it (``input.crop_values``).
CROP_VALUES = "0 = background, 1 = darkest chromatin; long axis vertical"

FEATURE_NAMES: tuple[str, ...] = (
    "log_rel_length",  # principal-axis extent / cell median
    "log_rel_medial_length",  # skeleton length / cell median (follows bent chromosomes)
    "log_rel_area",
    "aspect",  # extent across / extent along the long axis
    "log_rel_darkness",  # mean darkness / cell median (19 and 22 are pale, 4 and 13 dark)
)
NUM_FEATURES = len(FEATURE_NAMES)

_EPS = 1e-6


@dataclass(frozen=True)
class Levels:
    """Grey levels of one image: the empty slide and the darkest chromatin."""

    background: float
    foreground: float

    def darkness(self, gray: np.ndarray) -> np.ndarray:
        span = max(self.background - self.foreground, _EPS)
        return np.clip((self.background - gray) / span, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Measurements:
    """Sizes of one chromosome in image pixels, and its mean darkness."""

    length: float
    medial_length: float
    area: float
    width: float
    darkness: float


@dataclass(frozen=True)
class CellStats:
    """Statistics of one cell that crops and features are normalised by."""

    levels: Levels
    length: float
    medial_length: float
    area: float
    darkness: float

    @classmethod
    def from_measurements(cls, levels: Levels, measured: Sequence[Measurements]) -> "CellStats":
        if not measured:
            raise ValueError("cell statistics need at least one measured chromosome")
        return cls(levels=levels,
                   length=float(np.median([m.length for m in measured])),
                   medial_length=float(np.median([m.medial_length for m in measured])),
                   area=float(np.median([m.area for m in measured])),
                   darkness=float(np.median([m.darkness for m in measured])))


def to_gray(image: np.ndarray) -> np.ndarray:
    """A float32 grey image from 2-D grey or H x W x C colour input."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=2) if img.shape[2] >= 3 else img[..., 0]
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"expected a 2-D grey or H x W x C image, got shape {np.shape(image)}")
    return img.astype(np.float32, copy=False)


def image_levels(gray: np.ndarray, chromosome_mask: np.ndarray | None = None) -> Levels:
    """Background = median of the bright (Otsu) class; foreground = 1st percentile of chromatin.

    With ``chromosome_mask`` the foreground comes from chromosome pixels only, so a dark
    interphase nucleus does not set the contrast; without it, from the dark Otsu class.
    """
    lo, hi = float(gray.min()), float(gray.max())
    if hi - lo < _EPS:
        return Levels(background=hi, foreground=hi - 1.0)
    as8 = np.round((gray - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    t8, _ = cv2.threshold(as8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = lo + t8 * (hi - lo) / 255.0
    bright = gray[gray > t]
    background = float(np.median(bright)) if bright.size else hi
    dark = gray[chromosome_mask] if chromosome_mask is not None and chromosome_mask.any() else gray[gray <= t]
    foreground = float(np.percentile(dark, 1)) if dark.size else lo
    if background - foreground < _EPS:
        foreground = background - 1.0
    return Levels(background=background, foreground=foreground)


def _window(mask_box: tuple[int, int, int, int], shape: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = mask_box
    h, w = shape
    return max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)


def polygon_window_mask(polygon: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The polygon rasterised inside its own bounding window: (mask, (x0, y0) of the window)."""
    poly = np.asarray(polygon, dtype=np.float64)
    x0, y0 = int(np.floor(poly[:, 0].min())), int(np.floor(poly[:, 1].min()))
    x1, y1 = int(np.ceil(poly[:, 0].max())), int(np.ceil(poly[:, 1].max()))
    x0, y0, x1, y1 = _window((x0, y0, x1, y1), shape, 1)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), dtype=bool), (x0, y0)
    mask = polygon_to_mask(poly - [x0, y0], (y1 - y0, x1 - x0))
    return mask, (x0, y0)


def crop_from_box(gray: np.ndarray, box: Sequence[float], levels: Levels, *,
                  threshold: float = 0.2, margin: int = 4) -> tuple[np.ndarray, tuple[int, int]]:
    """The mask of the chromosome whose tight box is ``box`` (xmin, ymin, xmax, ymax).

    Training boxes (Pascal VOC) contain pieces of neighbours, so the chromosome is found inside
    the box: pixels darker than ``threshold`` (in darkness units) are closed with a 3x3 kernel
    and split into connected components in the box grown by ``margin``; the component whose own
    bounding box best matches the given box (IoU) is the chromosome, since it alone spans the box
    from side to side while intruding neighbours touch one or two sides. Its holes (pale bands)
    are filled and it is clipped to the box, cutting off a touching neighbour's part outside.
    Returns (mask, (x0, y0)) like :func:`polygon_window_mask`; the mask is empty when nothing
    in the box is dark enough.
    """
    bx0, by0, bx1, by1 = (float(v) for v in box)
    ix0, iy0, ix1, iy1 = int(np.floor(bx0)), int(np.floor(by0)), int(np.ceil(bx1)), int(np.ceil(by1))
    x0, y0, x1, y1 = _window((ix0, iy0, ix1, iy1), gray.shape, margin)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0), dtype=bool), (x0, y0)
    dark = levels.darkness(gray[y0:y1, x0:x1]) > threshold
    dark = cv2.morphologyEx(dark.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    target = np.array([ix0 - x0, iy0 - y0, ix1 - x0, iy1 - y0], dtype=np.float64)
    best, best_key = 0, (-1.0, 0)
    for k in range(1, count):
        left, top, w, h, area = stats[k]
        key = (_box_iou(target, np.array([left, top, left + w, top + h], dtype=np.float64)), int(area))
        if key > best_key:
            best, best_key = k, key
    if best == 0:
        return np.zeros((y1 - y0, x1 - x0), dtype=bool), (x0, y0)
    mask = ndimage.binary_fill_holes(labels == best)
    inside = np.zeros_like(mask)
    inside[max(0, int(target[1])):int(target[3]), max(0, int(target[0])):int(target[2])] = True
    return mask & inside, (x0, y0)


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def normalised_crop(darkness: np.ndarray, mask: np.ndarray, origin: tuple[int, int], *,
                    out_size: tuple[int, int] = DEFAULT_OUT_SIZE) -> tuple[np.ndarray, Measurements]:
    """Cut one chromosome out of a darkness image, straighten and fit it; measure it on the way.

    ``mask`` covers the window of ``darkness`` starting at ``origin`` = (x0, y0).
    """
    out_h, out_w = out_size
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        raise ValueError("chromosome mask has fewer than 3 pixels")
    x0, y0 = origin
    window = darkness[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]] * mask
    pts = np.stack([xs + 0.5, ys + 0.5], axis=1)
    centre = pts.mean(axis=0)
    axis_u = _major_axis(pts - centre)  # unit vector along the chromosome
    axis_v = np.array([axis_u[1], -axis_u[0]])  # (across, along) keeps the image's handedness
    u = (pts - centre) @ axis_u
    v = (pts - centre) @ axis_v
    length = float(u.max() - u.min() + 1.0)
    across = float(v.max() - v.min() + 1.0)
    area = float(len(xs))
    values = window[ys, xs]
    # Heavier end on top: mass-weighted mean position along the axis should be negative (up).
    if float(values @ (u - (u.max() + u.min()) / 2)) > 0:
        axis_u, axis_v = -axis_u, -axis_v
        u, v = -u, -v
    mid_u, mid_v = (u.max() + u.min()) / 2, (v.max() + v.min()) / 2
    scale = min(out_h / (length + 1.0), out_w / (across + 1.0))
    if scale < 0.7:  # anti-alias before shrinking
        window = cv2.GaussianBlur(window, (0, 0), sigmaX=0.45 / scale)
    # Inverse map: output pixel index (c, r) has centre (c + 0.5, r + 0.5); its offsets from the
    # crop centre, divided by scale, step along axis_v (across) and axis_u (along) in the window,
    # whose pixel index is the continuous position minus 0.5.
    inv = np.empty((2, 3), dtype=np.float64)
    inv[:, 0] = axis_v / scale
    inv[:, 1] = axis_u / scale
    inv[:, 2] = (centre + mid_v * axis_v + mid_u * axis_u
                 + (0.5 - out_w / 2) / scale * axis_v + (0.5 - out_h / 2) / scale * axis_u - 0.5)
    crop = cv2.warpAffine(window, inv, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    measured = Measurements(length=length, medial_length=_medial_length(mask, length),
                            area=area, width=across, darkness=float(values.mean()))
    return np.clip(crop, 0.0, 1.0).astype(np.float32), measured


def _major_axis(centred: np.ndarray) -> np.ndarray:
    cov = centred.T @ centred / max(len(centred) - 1, 1)
    evals, evecs = np.linalg.eigh(cov)
    axis = evecs[:, int(np.argmax(evals))]
    # Fix the eigenvector's sign so equal inputs give identical crops.
    return axis if (axis[1], axis[0]) >= (0, 0) else -axis


def _medial_length(mask: np.ndarray, fallback: float) -> float:
    """Skeleton length plus the two half-widths it misses at the ends (bent chromosomes)."""
    skel = skeletonize(np.pad(mask, 1))
    n = int(skel.sum())
    if n < 2:
        return fallback
    width = mask.sum() / n
    return float(n + width)


def features(measured: Measurements, cell: CellStats) -> np.ndarray:
    """Scalar features of one chromosome relative to its cell (order of FEATURE_NAMES)."""
    return np.array([
        np.log(max(measured.length, _EPS) / max(cell.length, _EPS)),
        np.log(max(measured.medial_length, _EPS) / max(cell.medial_length, _EPS)),
        np.log(max(measured.area, _EPS) / max(cell.area, _EPS)),
        measured.width / max(measured.length, _EPS),
        np.log(max(measured.darkness, _EPS) / max(cell.darkness, _EPS)),
    ], dtype=np.float32)


def chromosome_crop(image: np.ndarray, polygon: np.ndarray, *, cell: CellStats,
                    out_size: tuple[int, int] = DEFAULT_OUT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """One chromosome's (crop, features) given statistics of its cell (see :func:`cell_crops`)."""
    gray = to_gray(image)
    mask, origin = polygon_window_mask(polygon, gray.shape)
    crop, measured = normalised_crop(cell.levels.darkness(gray), mask, origin, out_size=out_size)
    return crop, features(measured, cell)


@dataclass(frozen=True)
class CellCrops:
    """Crops of one cell: ``crops`` (N, H, W) float32, ``features`` (N, F) float32.

    ``valid`` (N,) is False where an outline held too few pixels to crop (its crop is blank and
    its features zero); ``stats`` is None when no outline was valid.
    """

    crops: np.ndarray
    features: np.ndarray
    valid: np.ndarray
    stats: CellStats | None


def cell_crops(image: np.ndarray, polygons: Sequence[np.ndarray], *,
               out_size: tuple[int, int] = DEFAULT_OUT_SIZE) -> CellCrops:
    """Crops and cell-relative features of every chromosome outline of one image."""
    gray = to_gray(image)
    windows = [polygon_window_mask(p, gray.shape) for p in polygons]
    return _crop_windows(gray, windows, out_size)


def box_windows(image: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """The chromosome mask inside every tight box (crop_from_box with the image's rough levels)."""
    gray = to_gray(image)
    rough = image_levels(gray)
    return [crop_from_box(gray, box, rough) for box in boxes]


def box_crops(image: np.ndarray, boxes: Sequence[Sequence[float]], *,
              out_size: tuple[int, int] = DEFAULT_OUT_SIZE) -> CellCrops:
    """Like :func:`cell_crops` for tight boxes (training data and detector boxes): masks come from
    crop_from_box, so a detector's boxes give the classifier the crops it was trained on."""
    return _crop_windows(to_gray(image), box_windows(image, boxes), out_size)


def _crop_windows(gray: np.ndarray, windows: list[tuple[np.ndarray, tuple[int, int]]],
                  out_size: tuple[int, int]) -> CellCrops:
    n = len(windows)
    union = np.zeros(gray.shape, dtype=bool)
    for mask, (x0, y0) in windows:
        union[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]] |= mask
    levels = image_levels(gray, union)
    darkness = levels.darkness(gray)
    crops = np.zeros((n, *out_size), dtype=np.float32)
    feats = np.zeros((n, NUM_FEATURES), dtype=np.float32)
    valid = np.zeros(n, dtype=bool)
    measured: list[Measurements] = []
    for i, (mask, origin) in enumerate(windows):
        if mask.sum() < 3:
            continue
        crops[i], m = normalised_crop(darkness, mask, origin, out_size=out_size)
        valid[i] = True
        measured.append(m)
    if not measured:
        return CellCrops(crops, feats, valid, None)
    cell = CellStats.from_measurements(levels, measured)
    for i, m in zip(np.flatnonzero(valid), measured):
        feats[i] = features(m, cell)
    return CellCrops(crops, feats, valid, cell)
