"""Paired image/target transforms for detection training: what happens to the image happens to its outlines.

A DetectionSample keeps outlines as polygons (image pixel coordinates, pixel (c, r) covering
[c, c+1) x [r, r+1)) until the very end, so flips, 90-degree turns, rotations and resizing are
exact point maps and masks are rasterised once, at the final size (``to_target``). Box-only
samples carry their boxes as 4-corner polygons; they get flips and 90-degree turns (which keep
a box a box) but no small-angle rotation, whose enclosing box would be too large.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from karyostudio.geometry.polygons import box_to_polygon, polygon_bbox, polygon_to_mask
from karyostudio.models.maskrcnn.image_prep import resize_long_side
from karyostudio.training.config import AugmentConfig

COARSE_SHAPES = ("box", "ellipse")
_ELLIPSE_POINTS = 32


@dataclass(frozen=True)
class DetectionSample:
    """One training image: uint8 H x W image, outlines, model labels (1..24 = class index + 1)."""

    key: str
    image: np.ndarray
    polygons: tuple[np.ndarray, ...]
    labels: tuple[int, ...]
    has_masks: bool

    def _map(self, image: np.ndarray, point_map) -> "DetectionSample":
        return replace(self, image=np.ascontiguousarray(image), polygons=tuple(point_map(p) for p in self.polygons))


def resize(sample: DetectionSample, size: int) -> DetectionSample:
    """Scale so the longer side is ``size`` px."""
    image, (sx, sy) = resize_long_side(sample.image, size)
    factor = np.array([sx, sy])
    return sample._map(image, lambda p: p * factor)


def hflip(sample: DetectionSample) -> DetectionSample:
    width = sample.image.shape[1]
    return sample._map(sample.image[:, ::-1], lambda p: np.column_stack([width - p[:, 0], p[:, 1]]))


def vflip(sample: DetectionSample) -> DetectionSample:
    height = sample.image.shape[0]
    return sample._map(sample.image[::-1], lambda p: np.column_stack([p[:, 0], height - p[:, 1]]))


def rot90(sample: DetectionSample, turns: int) -> DetectionSample:
    """Rotate by ``turns`` quarter turns as np.rot90 does (counter-clockwise on screen)."""
    out = sample
    for _ in range(turns % 4):
        width = out.image.shape[1]
        # np.rot90 moves pixel (row r, col c) to (row W-1-c, col r): (x, y) -> (y, W - x).
        out = out._map(np.rot90(out.image), lambda p, w=width: np.column_stack([p[:, 1], w - p[:, 0]]))
    return out


def rotate(sample: DetectionSample, degrees: float) -> DetectionSample:
    """Rotate about the image centre (same size; corners filled with the median grey, i.e. background)."""
    height, width = sample.image.shape
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), degrees, 1.0)
    fill = int(np.median(sample.image))
    image = cv2.warpAffine(sample.image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    # OpenCV maps pixel indices (centres at integers); polygons use centres at +0.5.
    return sample._map(image, lambda p: (p - 0.5) @ matrix[:, :2].T + matrix[:, 2] + 0.5)


def adjust(sample: DetectionSample, brightness: float, contrast: float) -> DetectionSample:
    """Contrast scales grey values about mid-grey, brightness shifts them (a fraction of full range)."""
    image = (sample.image.astype(np.float32) - 127.5) * contrast + 127.5 + 255.0 * brightness
    return replace(sample, image=np.clip(np.rint(image), 0, 255).astype(np.uint8))


def augment(sample: DetectionSample, config: AugmentConfig, rng: np.random.Generator) -> DetectionSample:
    """Random flips, quarter turns, small rotation (samples with masks only), brightness/contrast."""
    if config.flip and rng.random() < 0.5:
        sample = hflip(sample)
    if config.flip and rng.random() < 0.5:
        sample = vflip(sample)
    if config.rot90:
        sample = rot90(sample, int(rng.integers(4)))
    if config.max_rotation_deg > 0 and sample.has_masks:
        sample = rotate(sample, float(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg)))
    if config.brightness > 0 or config.contrast > 0:
        sample = adjust(sample, float(rng.uniform(-config.brightness, config.brightness)),
                        float(rng.uniform(1.0 - config.contrast, 1.0 + config.contrast)))
    return sample


def as_boxes(sample: DetectionSample) -> DetectionSample:
    """The same sample with box supervision only (outlines replaced by their bounding boxes)."""
    return replace(sample, polygons=tuple(box_to_polygon(polygon_bbox(p)) for p in sample.polygons), has_masks=False)


def coarse_masks(sample: DetectionSample, shape: str = "box") -> DetectionSample:
    """Box-only sample -> sample whose masks are coarse shapes made from the boxes (two-stage, stage 1).

    "box" fills the whole box (the 4-corner polygon of Agnew et al. 2024); "ellipse" uses the
    ellipse inscribed in the box, closer to a straight chromosome lying along an image axis.
    """
    if shape not in COARSE_SHAPES:
        raise ValueError(f"coarse mask shape must be one of {COARSE_SHAPES}, got {shape!r}")
    if sample.has_masks:
        return sample
    boxes = [polygon_bbox(p) for p in sample.polygons]
    if shape == "box":
        polygons = tuple(box_to_polygon(b) for b in boxes)
    else:
        t = np.linspace(0.0, 2.0 * np.pi, _ELLIPSE_POINTS, endpoint=False)
        polygons = tuple(np.column_stack([(x0 + x1) / 2 + (x1 - x0) / 2 * np.cos(t), (y0 + y1) / 2 + (y1 - y0) / 2 * np.sin(t)])
                         for x0, y0, x1, y1 in boxes)
    return replace(sample, polygons=polygons, has_masks=True)


def to_target(sample: DetectionSample) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(1 x H x W float image in [0, 1], torchvision target). "masks" is present only for samples
    with masks. Boxes are the outlines' bounds clipped to the image; outlines left with no area
    (or no pixel, for masks) inside the image are dropped."""
    height, width = sample.image.shape
    boxes, labels, masks = [], [], []
    for polygon, label in zip(sample.polygons, sample.labels):
        x0, y0, x1, y1 = polygon_bbox(polygon)
        x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
        y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
        if x1 - x0 < 1.0 or y1 - y0 < 1.0:
            continue
        if sample.has_masks:
            mask = polygon_to_mask(polygon, (height, width))
            if not mask.any():
                continue
            masks.append(mask)
        boxes.append((x0, y0, x1, y1))
        labels.append(label)
    image = torch.from_numpy(np.ascontiguousarray(sample.image)).float().div_(255.0)[None]
    target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
              "labels": torch.tensor(labels, dtype=torch.int64)}
    if sample.has_masks:
        target["masks"] = (torch.from_numpy(np.stack(masks)).to(torch.uint8) if masks
                           else torch.zeros((0, height, width), dtype=torch.uint8))
    return image, target
