"""Image -> chromosome boxes with a loaded centre detector, at the scale the network was trained for.

The network knows one chromosome size (spec.chromosome_px, the median box diagonal), so every
image is first measured: the dark objects of a downsized copy give a first estimate of the
chromosome size; the detections made at that scale give a better one, and while it differs from
the trained size by more than ``RESCALE_TOLERANCE`` the image is run again at the corrected scale
(see CenterNetDetector.detect). Images
from another microscope or camera, with chromosomes half or twice the training size, are thus
seen at the training size. Large inputs are cut into overlapping tiles (each detection is kept
by the tile that owns its centre), so memory stays bounded and ``cancel`` is polled
between tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from karyostudio.core.progress import CancelToken, check
from karyostudio.models.centernet.decode import Detections, decode
from karyostudio.models.centernet.net import CenterNet
from karyostudio.models.centernet.spec import CenterNetSpec
from karyostudio.models.maskrcnn.image_prep import as_uint8

RESCALE_TOLERANCE = 1.15  # another pass when the measured size is off by more than this factor
MAX_PASSES = 4
SCALE_UP = 1.6  # next try when a pass finds too few chromosomes to measure
# Chromosomes under about 26 px (box diagonal) carry no readable banding, so images are enlarged at
# most x2; and the network input stays under MAX_INPUT_PIXELS (about a second per megapixel on two
# cores), so a field of specks that looks like tiny chromosomes costs seconds, not minutes.
# Objects that still measure under chromosome_px / TOO_SMALL at the largest enlargement are specks
# or debris, not chromosomes: none of them is returned.
MIN_SCALE, MAX_SCALE = 0.05, 2.0
MAX_INPUT_PIXELS = 16e6
TOO_SMALL = 1.25
_ESTIMATE_SIDE = 1024  # the size estimate runs on a copy at most this large
_MIN_OBJECTS = 8  # fewer detections or dark objects than this say nothing about the size
TILE, TILE_OVERLAP = 1024, 160  # network-input pixels; the overlap holds the largest chromosome


@dataclass(frozen=True)
class DetectorResult:
    detections: Detections  # in image pixels
    scale: float  # image -> network input factor used for the detections
    passes: int


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def foreground_diagonal(gray: np.ndarray) -> float | None:
    """A first guess of the median chromosome box diagonal (image pixels) from the dark objects, or None.

    Otsu's cut on a downsized copy, 8-connected components away from the image border; specks
    (under a tenth of the typical object's area, the area-weighted median) are left out. Touching
    chromosomes make the guess too large, sometimes by a factor of 3; the detector's own
    measurements correct it (CenterNetDetector.detect).
    """
    factor = min(1.0, _ESTIMATE_SIDE / max(gray.shape))
    small = gray if factor == 1.0 else cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    if int(small.max()) - int(small.min()) < 8:
        return None
    level, _ = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = (small <= level).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    stats = stats[1:]
    # Components touching the image border are usually the slide's edge or vignetting.
    h, w = small.shape
    inner = (stats[:, 0] > 0) & (stats[:, 1] > 0) & (stats[:, 0] + stats[:, 2] < w) & (stats[:, 1] + stats[:, 3] < h)
    stats = stats[inner & (stats[:, 4] >= 4)]
    if len(stats) < _MIN_OBJECTS:
        return None
    areas = stats[:, 4].astype(np.float64)
    stats = stats[areas >= 0.1 * _weighted_median(areas, areas)]
    if len(stats) < _MIN_OBJECTS:
        return None
    return float(np.median(np.hypot(stats[:, 2], stats[:, 3]))) / factor


def detections_diagonal(found: Detections, threshold: float) -> float | None:
    keep = found.scores >= threshold
    if np.count_nonzero(keep) < _MIN_OBJECTS:
        return None
    boxes = found.boxes[keep]
    return float(np.median(np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))


def _tiles(length: int) -> list[int]:
    """Start offsets of tiles of TILE pixels covering ``length``, overlapping by at least TILE_OVERLAP."""
    if length <= TILE:
        return [0]
    step = TILE - TILE_OVERLAP - 32  # room for rounding the starts up to multiples of 32
    count = math.ceil((length - TILE) / step) + 1
    # Multiples of 32 keep every tile's output grid on the whole image's grid.
    return [-(-int(k * (length - TILE) / (count - 1)) // 32) * 32 for k in range(count)]


def _cores(starts: list[int], length: int) -> list[tuple[float, float]]:
    """Each tile's own part: adjacent tiles split their overlap half way, so every point has one owner."""
    ends = [min(s + TILE, length) for s in starts]
    cuts = [(starts[k + 1] + ends[k]) / 2 for k in range(len(starts) - 1)]
    return list(zip([-np.inf, *cuts], [*cuts, np.inf]))


class CenterNetDetector:
    def __init__(self, model: CenterNet, *, device: str = "cpu", score_threshold: float | None = None):
        self.model = model.to(device).eval()
        self.spec: CenterNetSpec = model.spec
        self.device = torch.device(device)
        self.score_threshold = self.spec.score_threshold if score_threshold is None else float(score_threshold)

    def detect(self, image: np.ndarray, cancel: CancelToken | None = None, *,
               score_floor: float | None = None) -> DetectorResult:
        """Boxes in image pixels scoring at least ``score_floor`` (default: the threshold).

        The scale: a first guess from the dark objects (or the spec's default), then up to
        MAX_PASSES detector runs, each rescaled by what the previous one measured (at most x2
        per step; once x SCALE_UP when the first found too few chromosomes to measure); the run whose
        chromosomes came closest to the trained size is kept. Within a factor of about 2 of the
        right scale the detector measures the size well; beyond 2.5 it sees bands as chromosomes,
        hence the bounded steps and the pick of the most consistent run. Enlargement stops at
        MAX_SCALE (and at MAX_INPUT_PIXELS); what still measures too small there is no chromosome.
        """
        gray = as_uint8(image)
        floor = self.score_threshold if score_floor is None else score_floor
        spec = self.spec
        diagonal = foreground_diagonal(gray)
        largest = min(MAX_SCALE, math.sqrt(MAX_INPUT_PIXELS / gray.size))

        def bounded(value: float) -> float:
            return float(np.clip(value, MIN_SCALE, max(MIN_SCALE, largest)))

        scale = bounded(spec.default_scale if diagonal is None else spec.chromosome_px / diagonal)
        best: tuple[float, Detections, float, float | None] | None = None  # error, found, scale, measured
        passes = 0
        while passes < MAX_PASSES:
            passes += 1
            found = self.detect_at(gray, scale, min(floor, self.score_threshold), cancel)
            measured = detections_diagonal(found, self.score_threshold)
            if measured is None:
                # Too few chromosomes to measure. The dark objects' guess errs towards too small a
                # scale (touching chromosomes look like one big object), so look once closer.
                if best is None:
                    best = (np.inf, found, scale, None)
                closer = bounded(scale * SCALE_UP)
                if passes > 1 or diagonal is None or closer < scale * 1.05:  # no closer look left
                    break
                scale = closer
                continue
            error = abs(math.log(measured * scale / spec.chromosome_px))
            if best is None or error < best[0]:
                best = (error, found, scale, measured)
            if error < math.log(RESCALE_TOLERANCE):
                break
            step = float(np.clip(spec.chromosome_px / (measured * scale), 0.5, 2.0))
            if abs(math.log(bounded(scale * step) / scale)) < 1e-3:
                break  # at the bound already: another pass would see the same
            scale = bounded(scale * step)
        _, found, scale, measured = best
        keep = found.scores >= floor
        if measured is not None and scale >= MAX_SCALE * 0.999 and measured * scale * TOO_SMALL < spec.chromosome_px:
            keep[:] = False  # too small to be chromosomes even enlarged as far as they can be
        return DetectorResult(Detections(found.boxes[keep], found.scores[keep], found.centres[keep]), scale, passes)

    def detect_at(self, gray: np.ndarray, scale: float, floor: float, cancel: CancelToken | None = None
                  ) -> Detections:
        """Detections (image pixels) with the image resized by ``scale``."""
        height, width = gray.shape
        size = (max(32, int(round(width * scale))), max(32, int(round(height * scale))))
        resized = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        fx, fy = size[0] / width, size[1] / height
        fill = int(np.median(resized))
        parts = []
        xs, ys = _tiles(size[0]), _tiles(size[1])
        x_cores, y_cores = _cores(xs, size[0]), _cores(ys, size[1])
        for y0, (core_y0, core_y1) in zip(ys, y_cores):
            for x0, (core_x0, core_x1) in zip(xs, x_cores):
                check(cancel)
                tile = resized[y0:y0 + TILE, x0:x0 + TILE]
                th, tw = tile.shape
                padded = np.full((-(-th // 32) * 32, -(-tw // 32) * 32), fill, np.uint8)
                padded[:th, :tw] = tile
                tensor = torch.from_numpy(padded).to(self.device).float().div_(255.0)[None, None]
                with torch.inference_mode():
                    found = decode(self.model(tensor), self.spec, score_floor=floor)[0]
                cx, cy = found.centres[:, 0] + x0, found.centres[:, 1] + y0
                keep = (cx >= core_x0) & (cx < core_x1) & (cy >= core_y0) & (cy < core_y1)
                shift = np.array([x0, y0, x0, y0], np.float64)
                parts.append(Detections(found.boxes[keep] + shift, found.scores[keep],
                                        found.centres[keep] + shift[:2]))
        merged = Detections.concat(parts)
        factor = np.array([fx, fy, fx, fy])
        boxes = merged.boxes / factor
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        order = np.argsort(-merged.scores, kind="stable")
        return Detections(boxes[order], merged.scores[order], (merged.centres / factor[:2])[order])
