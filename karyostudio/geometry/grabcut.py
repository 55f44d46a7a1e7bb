"""GrabCut-assisted outlining: a rough box, polygon or click becomes a chromosome outline.

OpenCV's GrabCut runs on a crop around the rough region only, downscaled so that its longer
side is at most ``GrabCutSettings.max_side`` pixels, with few iterations: that keeps one
refinement in the tens of milliseconds on a metaphase crop. Foreground/background strokes
then re-run it incrementally from the current labelling (GC_INIT_WITH_MASK).

Initial labelling: outside the rough region surely background; inside it, pixels on the
object side of an Otsu threshold of the crop probably object, the rest probably background
(a plain "everything in the box is object" start fails on thin diagonal chromosomes, whose
box is mostly background). Images are 2-D grayscale uint8 or uint16 (16-bit data is mapped
to 8 bits with the given display levels, or the crop's 0.5/99.5 percentiles) and given to
GrabCut as three channels: intensity, smoothed intensity and the distance outside the rough
region (see grabcut_features). A click is turned into a seed region by thresholding a window
around it (Otsu) and taking the connected component under the cursor; which side of the
threshold is "object" is read from the click, so dark-on-light and bright-on-dark both work.
The result is the largest connected object component, holes filled. A result that does not
stand out from the region's surroundings (an empty box on the slide: GrabCut then returns noise or
the whole box) is refused with "nothing found", unless the user marked object strokes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from karyostudio.geometry.polygons import mask_to_polygon, polygon_to_mask

Box = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax (image pixel coordinates)


class GrabCutError(ValueError):
    """GrabCut could not produce an outline (the message says why, for the user)."""


@dataclass(frozen=True)
class GrabCutSettings:
    margin: float = 10.0  # px of context around the rough region (plus margin_fraction of its size)
    margin_fraction: float = 0.15
    max_side: int = 160  # the crop is downscaled to at most this many pixels along its longer side
    iterations: int = 3  # first run
    refine_iterations: int = 2  # after each stroke
    simplify: float = 0.6  # px, Douglas-Peucker tolerance of the resulting outline
    click_window: int = 96  # px, half size of the window thresholded around a click
    min_contrast: float = 15.0  # 8-bit levels between the object and its surroundings ...
    min_contrast_noise: float = 2.5  # ... and this many times the surroundings' noise ...
    sure_contrast: float = 40.0  # ... though this much always stands out (a crowded context is "noisy")
    min_share: float = 0.03  # the object must fill this share of the region (a speck is not a chromosome)

    def __post_init__(self) -> None:
        if self.max_side < 16:
            raise ValueError(f"max_side must be at least 16, got {self.max_side}")
        if self.iterations < 1 or self.refine_iterations < 1:
            raise ValueError("iterations must be at least 1")


def to_8bit(image: np.ndarray, levels: tuple[int, int] | None = None) -> np.ndarray:
    """A 2-D uint8 version of a grayscale image: levels (low, high) map to 0..255."""
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise GrabCutError(f"expected a 2-D grayscale image, got shape {arr.shape}")
    if arr.dtype not in (np.uint8, np.uint16):
        raise GrabCutError(f"expected a uint8 or uint16 image, got {arr.dtype}")
    if levels is None:
        if arr.dtype == np.uint8:
            return arr
        low, high = (float(v) for v in np.percentile(arr, (0.5, 99.5)))
    else:
        low, high = float(levels[0]), float(levels[1])
    high = max(high, low + 1.0)
    scaled = (arr.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def grabcut_features(gray8: np.ndarray, outside_distance: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 input for cv2.grabCut: intensity, smoothed intensity, distance outside the region.

    The distance channel is a spatial prior: neighbouring chromosomes in the context around the
    region look exactly like the wanted one, and without it the background model learns them
    and takes the wanted chromosome too (GrabCut then returns nothing).
    """
    smooth = cv2.GaussianBlur(gray8, (0, 0), 1.0)
    return np.ascontiguousarray(np.dstack([gray8, smooth, outside_distance]))


class GrabCutRegion:
    """One GrabCut segmentation around a rough region, refined by strokes; outline in image pixels.

    Initial labelling of the crop: outside the rough region (box or polygon) surely background;
    inside it, pixels on the object side of an Otsu threshold (or of the given seed mask)
    probably object, the rest probably background.
    """

    def __init__(self, image: np.ndarray, box: Box, *, region_polygon: np.ndarray | None = None,
                 seed_mask: np.ndarray | None = None, levels: tuple[int, int] | None = None,
                 settings: GrabCutSettings = GrabCutSettings()):
        self.settings = settings
        height, width = np.asarray(image).shape[:2]
        x0, y0, x1, y1 = _clip_box(box, width, height)
        pad = settings.margin + settings.margin_fraction * max(x1 - x0, y1 - y0)
        cx0, cy0 = int(max(np.floor(x0 - pad), 0)), int(max(np.floor(y0 - pad), 0))
        cx1, cy1 = int(min(np.ceil(x1 + pad), width)), int(min(np.ceil(y1 + pad), height))
        self.origin = (cx0, cy0)
        self.crop_size = (cx1 - cx0, cy1 - cy0)
        scale = min(1.0, settings.max_side / max(self.crop_size))
        self.small_size = (max(int(round(self.crop_size[0] * scale)), 1),
                           max(int(round(self.crop_size[1] * scale)), 1))
        crop = to_8bit(np.asarray(image)[cy0:cy1, cx0:cx1], levels)
        if self.small_size != self.crop_size:
            crop = cv2.resize(crop, self.small_size, interpolation=cv2.INTER_AREA)
        shape = crop.shape
        if region_polygon is not None:
            region = self._polygon_small(region_polygon)
        else:
            region = np.zeros(shape, dtype=bool)
            (bx0, by0), (bx1, by1) = self._to_small((x0, y0)), self._to_small((x1, y1))
            r0, c0 = int(np.floor(by0)), int(np.floor(bx0))
            region[r0:max(int(np.ceil(by1)), r0 + 1), c0:max(int(np.ceil(bx1)), c0 + 1)] = True
        if not region.any():
            raise GrabCutError("the region is too small to outline")
        prior = self._mask_small(seed_mask) if seed_mask is not None else _threshold_prior(crop, region)
        self._mask = np.full(shape, cv2.GC_BGD, dtype=np.uint8)
        self._mask[region] = cv2.GC_PR_BGD
        self._mask[region & prior] = cv2.GC_PR_FGD
        if not (self._mask == cv2.GC_PR_FGD).any():
            self._mask[region] = cv2.GC_PR_FGD
        if not (self._mask != cv2.GC_PR_FGD).any():  # the region fills the crop (at the image's edges)
            self._mask[[0, -1], :] = cv2.GC_BGD
            self._mask[:, [0, -1]] = cv2.GC_BGD
        distance = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 3)
        reach = max(pad * self.small_size[0] / self.crop_size[0], 1.0)
        self._features = grabcut_features(crop, np.clip(distance * (255.0 / reach), 0, 255).astype(np.uint8))
        self._crop8 = crop
        self._outside = ~region
        self._object_strokes = False
        self._bgd = np.zeros((1, 65), np.float64)
        self._fgd = np.zeros((1, 65), np.float64)
        initial = self._mask.copy()
        self._run(settings.iterations)
        if not self._has_object():
            # Small chromosomes can lose to a background model learnt from a busy context: start
            # again with the core of the largest probable-object component marked sure object.
            largest = _largest_component(initial == cv2.GC_PR_FGD).astype(np.uint8)
            core = cv2.erode(largest, np.ones((3, 3), np.uint8))
            if core.any():
                self._mask = initial
                self._mask[core > 0] = cv2.GC_FGD
                self._run(settings.iterations)

    # --- constructors ----------------------------------------------------------------------
    @classmethod
    def from_box(cls, image: np.ndarray, box: Box, **kwargs) -> "GrabCutRegion":
        x0, y0, x1, y1 = box
        if min(x1 - x0, y1 - y0) < 2.0:
            raise GrabCutError("drag a box around the chromosome (the box is too small)")
        return cls(image, box, **kwargs)

    @classmethod
    def from_polygon(cls, image: np.ndarray, polygon: np.ndarray, **kwargs) -> "GrabCutRegion":
        poly = np.asarray(polygon, dtype=np.float64)
        if poly.ndim != 2 or len(poly) < 3:
            raise GrabCutError("draw a polygon of at least three points around the chromosome")
        box = (poly[:, 0].min(), poly[:, 1].min(), poly[:, 0].max(), poly[:, 1].max())
        return cls(image, box, region_polygon=poly, **kwargs)

    @classmethod
    def from_click(cls, image: np.ndarray, point: tuple[float, float], *, levels: tuple[int, int] | None = None,
                   settings: GrabCutSettings = GrabCutSettings()) -> "GrabCutRegion":
        component, box = click_component(to_8bit(image, levels), point, settings.click_window)
        return cls(image, box, seed_mask=component, levels=levels, settings=settings)

    # --- strokes ---------------------------------------------------------------------------
    def add_stroke(self, points: Sequence[tuple[float, float]], *, foreground: bool, radius: float = 3.0) -> None:
        """Mark pixels along a stroke as surely object (or surely background) and re-run."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0:
            return
        small = np.array([self._to_small(p) for p in pts], dtype=np.float64)
        scale = self.small_size[0] / self.crop_size[0]
        thickness = max(int(round(2 * radius * scale)), 1)
        value = cv2.GC_FGD if foreground else cv2.GC_BGD
        self._object_strokes = self._object_strokes or foreground
        shift = 4  # sub-pixel coordinates for cv2 drawing
        ipts = np.round(small * (1 << shift)).astype(np.int32)
        if len(ipts) == 1:
            cv2.circle(self._mask, tuple(ipts[0]), max(thickness // 2, 1) << shift, int(value), -1, cv2.LINE_8, shift)
        else:
            cv2.polylines(self._mask, [ipts.reshape(-1, 1, 2)], False, int(value), thickness, cv2.LINE_8, shift)
        if not np.any((self._mask == cv2.GC_FGD) | (self._mask == cv2.GC_PR_FGD)):
            raise GrabCutError("everything is marked background")
        if not np.any((self._mask == cv2.GC_BGD) | (self._mask == cv2.GC_PR_BGD)):
            raise GrabCutError("everything is marked object")
        self._run(self.settings.refine_iterations)

    # --- results ---------------------------------------------------------------------------
    @property
    def crop_box(self) -> Box:
        (x, y), (w, h) = self.origin, self.crop_size
        return float(x), float(y), float(x + w), float(y + h)

    def object_mask(self) -> np.ndarray:
        """Bool mask of the object at full resolution over the crop (rows, cols of crop_size)."""
        fg = _largest_component((self._mask == cv2.GC_FGD) | (self._mask == cv2.GC_PR_FGD)).astype(np.uint8) * 255
        if self.small_size != self.crop_size:
            fg = cv2.resize(fg, self.crop_size, interpolation=cv2.INTER_LINEAR)
        return fg >= 128

    def polygon(self) -> np.ndarray:
        """The largest object outline, in image pixel coordinates (holes filled)."""
        if not self._object_strokes and not self.stands_out():
            raise GrabCutError("nothing found: no chromosome stands out in the region (drag the box around one, "
                               "or mark it with an object stroke)")
        outline = mask_to_polygon(self.object_mask(), epsilon=self.settings.simplify, min_area=4.0)
        if outline is None:
            raise GrabCutError("no chromosome found in the region")
        return outline + np.asarray(self.origin, dtype=np.float64)

    def stands_out(self) -> bool:
        """True when the object differs from the region's surroundings by more than their noise."""
        fg = _largest_component((self._mask == cv2.GC_FGD) | (self._mask == cv2.GC_PR_FGD))
        around = self._outside & ~fg
        if not fg.any() or fg.sum() < self.settings.min_share * max(int((~self._outside).sum()), 1):
            return False
        if not around.any():  # a region filling the crop: compare with the rest of the region
            around = ~fg
            if not around.any():
                return False
        inside, outside = self._crop8[fg].astype(np.float64), self._crop8[around].astype(np.float64)
        level = float(np.median(outside))  # the slide (neighbours in the context are a minority)
        contrast = abs(float(np.median(inside)) - level)
        noise = 1.4826 * float(np.median(np.abs(outside - level)))  # robust to those neighbours
        needed = min(self.settings.sure_contrast, self.settings.min_contrast_noise * noise)
        return contrast >= max(self.settings.min_contrast, needed)

    # --- internals -------------------------------------------------------------------------
    def _has_object(self) -> bool:
        return bool(((self._mask == cv2.GC_FGD) | (self._mask == cv2.GC_PR_FGD)).any())

    def _run(self, iterations: int) -> None:
        cv2.grabCut(self._features, self._mask, None, self._bgd, self._fgd, iterations, cv2.GC_INIT_WITH_MASK)

    def _to_small(self, point) -> tuple[float, float]:
        sx = self.small_size[0] / self.crop_size[0]
        sy = self.small_size[1] / self.crop_size[1]
        return (float(point[0]) - self.origin[0]) * sx, (float(point[1]) - self.origin[1]) * sy

    def _mask_small(self, mask: np.ndarray) -> np.ndarray:
        """An image-sized bool mask, cropped and scaled like the image."""
        x0, y0 = self.origin
        w, h = self.crop_size
        crop = np.asarray(mask, dtype=bool)[y0:y0 + h, x0:x0 + w].astype(np.uint8)
        return cv2.resize(crop, self.small_size, interpolation=cv2.INTER_NEAREST) > 0

    def _polygon_small(self, polygon: np.ndarray) -> np.ndarray:
        small = np.array([self._to_small(p) for p in np.asarray(polygon, dtype=np.float64)])
        return polygon_to_mask(small, (self.small_size[1], self.small_size[0]))


def _threshold_prior(crop: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Pixels of the crop on the object side of an Otsu threshold.

    The object side is the one away from the context outside the region (background), or the
    minority inside the region when there is no context (a region filling the crop).
    """
    smooth = cv2.GaussianBlur(crop, (0, 0), 1.0)
    threshold, _ = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = smooth <= threshold
    if (~region).any():
        objects_dark = float(np.median(smooth[~region])) > threshold
    else:
        objects_dark = dark[region].mean() <= 0.5
    return dark if objects_dark else ~dark


def click_component(gray8: np.ndarray, point: tuple[float, float], half_window: int = 96) -> tuple[np.ndarray, Box]:
    """The thresholded component under a click, as (image-sized bool mask, its box)."""
    height, width = gray8.shape
    px, py = int(np.floor(point[0])), int(np.floor(point[1]))
    if not (0 <= px < width and 0 <= py < height):
        raise GrabCutError("click inside the image")
    x0, y0 = max(px - half_window, 0), max(py - half_window, 0)
    x1, y1 = min(px + half_window + 1, width), min(py + half_window + 1, height)
    window = cv2.GaussianBlur(gray8[y0:y1, x0:x1], (0, 0), 1.0)
    threshold, dark = cv2.threshold(window, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if window.max() - window.min() < 10:
        raise GrabCutError("no contrast around the click")
    lx, ly = px - x0, py - y0
    objects = dark if dark[ly, lx] else 1 - dark  # the click says which side is "object"
    if objects.mean() > 0.5:
        raise GrabCutError("click on a chromosome (the click is on the background)")
    objects = cv2.morphologyEx(objects, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels = cv2.connectedComponents(objects, connectivity=8)
    label = labels[ly, lx]
    if label == 0:  # opened away: take the nearest component pixel within a few pixels
        ys, xs = np.nonzero(labels[max(ly - 3, 0):ly + 4, max(lx - 3, 0):lx + 4])
        if len(xs) == 0:
            raise GrabCutError("click on a chromosome (nothing found under the click)")
        label = labels[max(ly - 3, 0) + ys[0], max(lx - 3, 0) + xs[0]]
    component = labels == label
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = component
    ys, xs = np.nonzero(component)
    box = (float(xs.min() + x0), float(ys.min() + y0), float(xs.max() + x0 + 1), float(ys.max() + y0 + 1))
    return mask, box


def _largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _clip_box(box: Box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    x0, y0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
    x1, y1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    if x1 - x0 < 1.0 or y1 - y0 < 1.0:
        raise GrabCutError("the region lies outside the image")
    return x0, y0, x1, y1
