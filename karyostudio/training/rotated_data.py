"""Rotated-box training data for the rotated detectors (DeepCHM, Enhanced Rotated Mask R-CNN).

Ground truth rotated boxes (cx, cy, w, h, theta) in the convention of
:mod:`karyostudio.geometry.rotated` (h >= w, theta in [0, 180) clockwise), by source:
  - synthetic metaphases and labelme/COCO outlines: the minimum-area rectangle (cv2.minAreaRect)
    of each outline. Synthetic masks are rasterised from these exact outlines, so this is the
    box of the exact mask up to sub-pixel rasterisation;
  - box-only annotations (Pascal VOC such as Taichung, labelme rectangles): the box is refined
    on the image (:func:`karyostudio.models.rotated.box_fit.fit_rotated_box_in_box`: Otsu inside
    the box, the largest dark component spanning >= 50 % of the box in x and y, its
    minimum-area rectangle). When no component qualifies the axis-aligned box itself is kept and
    the failure is counted (``RotatedDetectionDataset.fit_counts``);
    benchmarks/rotated_gt_quality.py measures how often that happens and how close the fits
    come to exact boxes on synthetic images.

Each instance's outline becomes a polygon that every augmentation maps exactly (refined
boxes become their 4-corner rectangles, which rotate exactly too); the final rotated box is
the minimum-area rectangle of the mapped polygon. Splits reuse detection_data.build_sources
(Taichung: by patient; synthetic: index ranges), so both rotated trainers see the same images.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import polygon_bbox, polygon_to_mask
from karyostudio.geometry.rotated import (
    rotated_box_corners,
    rotated_box_from_polygon,
    rotated_boxes_from_polygons,
)
from karyostudio.io.errors import ImageReadError
from karyostudio.metrics.detection import ROTATED_BOX
from karyostudio.models.rotated.box_fit import FIT_REASONS, axis_rotated_box, fit_rotated_box_in_box
from karyostudio.training.config import AugmentConfig, ConfigError, TrainConfig
from karyostudio.training.detection_data import ConcatSource, Key, SampleSource, build_sources
from karyostudio.training.transforms import DetectionSample, augment, resize

# Instance attribute set on ground truth whose rotated box was refined from an axis-aligned box.
FITTED = "rotated_box_fitted"


def rotated_boxes_for_annotations(ann: ImageAnnotations, image: np.ndarray | None = None
                                  ) -> tuple[np.ndarray, list[str]]:
    """Rotated boxes (N x 5) of an image's instances and, per instance, how each was obtained.

    Outlines give their minimum-area rectangle ("outline"); box-only instances are refined on
    ``image`` (uint8, H x W) when given (a box_fit reason: "ok" or why it failed), else kept as
    axis-aligned rotated boxes ("no-image").
    """
    boxes, how = [], []
    for inst in ann.instances:
        if not inst.attributes.get(BOX_ONLY, False):
            boxes.append(rotated_box_from_polygon(inst.polygon))
            how.append("outline")
        elif image is None:
            boxes.append(axis_rotated_box(*inst.bbox))
            how.append("no-image")
        else:
            fit = fit_rotated_box_in_box(image, inst.bbox)
            boxes.append(fit.rbox)
            how.append(fit.reason)
    return (np.array(boxes, dtype=np.float64).reshape(-1, 5), how)


def refine_box_sample(sample: DetectionSample) -> tuple[DetectionSample, list[str]]:
    """A box-only sample whose box polygons are replaced by their refined rotated rectangles."""
    fits = [fit_rotated_box_in_box(sample.image, polygon_bbox(p)) for p in sample.polygons]
    polygons = tuple(rotated_box_corners(f.rbox[None])[0] for f in fits)
    return replace(sample, polygons=polygons), [f.reason for f in fits]


def _clipped_bbox(polygon: np.ndarray, width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = polygon_bbox(polygon)
    return (min(max(x0, 0.0), width), min(max(y0, 0.0), height), min(max(x1, 0.0), width),
            min(max(y1, 0.0), height))


def _visible(sample: DetectionSample) -> list[tuple[np.ndarray, int]]:
    """(polygon, label) of the instances with at least a pixel's extent inside the image."""
    height, width = sample.image.shape
    out = []
    for polygon, label in zip(sample.polygons, sample.labels):
        x0, y0, x1, y1 = _clipped_bbox(polygon, width, height)
        if x1 - x0 >= 1.0 and y1 - y0 >= 1.0:
            out.append((polygon, label))
    return out


def rotated_target(sample: DetectionSample, with_masks: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(1 x H x W float image in [0, 1], target) with "rboxes" [K, 5], "boxes" [K, 4] (x0, y0, x1, y1
    of the outline), "labels" [K] (1..24) and, for samples with outlines and ``with_masks``,
    "masks" [K, H, W] uint8. Instances with less than a pixel inside the image are dropped."""
    height, width = sample.image.shape
    kept = _visible(sample)
    boxes = [_clipped_bbox(p, width, height) for p, _ in kept]
    rboxes = rotated_boxes_from_polygons([p for p, _ in kept])
    image = torch.from_numpy(np.ascontiguousarray(sample.image)).float().div_(255.0)[None]
    target = {"rboxes": torch.from_numpy(rboxes).to(torch.float32).reshape(-1, 5),
              "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
              "labels": torch.tensor([label for _, label in kept], dtype=torch.int64)}
    if sample.has_masks and with_masks:
        masks = [polygon_to_mask(p, (height, width)) for p, _ in kept]
        target["masks"] = (torch.from_numpy(np.stack(masks)).to(torch.uint8) if masks
                           else torch.zeros((0, height, width), dtype=torch.uint8))
    return image, target


class RotatedDetectionDataset(Dataset):
    """Samples of a source as (1 x H x W image tensor, rotated target) at the model's input size.

    Keys are those of detection_data.DetectionDataset: an index (un-augmented, validation) or
    (index, augmentation seed words) from a BatchStream, so batches are reproducible.
    ``input_size`` is the longer image side after resizing.
    """

    def __init__(self, source: SampleSource, *, input_size: int, augment_config: AugmentConfig | None = None,
                 with_masks: bool = True):
        if input_size < 16:
            raise ConfigError(f"input_size must be at least 16 px, got {input_size}")
        self.source, self.input_size, self.augment_config = source, input_size, augment_config
        self.with_masks = with_masks
        self.fit_counts: Counter[str] = Counter()  # box refinement outcomes seen by this process

    def __len__(self) -> int:
        return len(self.source)

    def sample(self, key: Key) -> DetectionSample:
        """The resized (and, for keys with seed words, augmented) sample; boxes already refined."""
        index, seed_words = (key, None) if isinstance(key, int) else key
        try:
            sample = self.source.load(index)
        except ImageReadError as exc:
            raise ConfigError(f"training image cannot be read: {exc}") from None
        if not sample.has_masks:
            sample, reasons = refine_box_sample(sample)  # at full resolution, before resizing
            self.fit_counts.update(reasons)
        sample = resize(sample, self.input_size)
        if seed_words is not None and self.augment_config is not None:
            # Rectangles map exactly under small rotations too, so box samples get them as well.
            turned = augment(replace(sample, has_masks=True), self.augment_config,
                             np.random.default_rng(list(seed_words)))
            sample = replace(turned, has_masks=sample.has_masks)
        return sample

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return rotated_target(self.sample(key), self.with_masks)

    def failure_rate(self) -> float | None:
        """Fraction of refined boxes that kept their axis-aligned box (None before any)."""
        total = sum(self.fit_counts.values())
        return None if total == 0 else 1.0 - self.fit_counts["ok"] / total


def build_rotated_datasets(config: TrainConfig, input_size: int, *, roles: Sequence[str] = ("masks", "boxes"),
                           with_masks: bool = True) -> tuple[RotatedDetectionDataset, RotatedDetectionDataset]:
    """(train, validation) datasets over the config's mask and/or box sources (split as in detection_data)."""
    trains, vals = [], []
    for role in roles:
        if role not in ("masks", "boxes"):
            raise ConfigError(f"roles must be 'masks' and/or 'boxes', got {role!r}")
        field = "mask_sources" if role == "masks" else "box_sources"
        if not getattr(config.data, field):
            raise ConfigError(f"rotated training data: data.{field} is empty")
        train, val = build_sources(config, role)
        trains.append(train)
        vals.append(val)
    make = lambda src, aug: RotatedDetectionDataset(ConcatSource(src), input_size=input_size,  # noqa: E731
                                                    augment_config=aug, with_masks=with_masks)
    return make(trains, config.data.augment), make(vals, None)


def rotated_ground_truth(sample: DetectionSample) -> ImageAnnotations:
    """A (resized, refined) sample's ground truth as Instances carrying attributes["rotated_box"],
    ready for metrics.evaluate (box-derived instances are flagged box-only)."""
    height, width = sample.image.shape
    instances = []
    for index, (polygon, label) in enumerate(_visible(sample)):
        attributes = {ROTATED_BOX: [float(v) for v in rotated_box_from_polygon(polygon)]}
        if not sample.has_masks:
            attributes.update({BOX_ONLY: True, FITTED: True})
        instances.append(Instance(id=index + 1, polygon=polygon, label=CLASS_NAMES[label - 1], attributes=attributes))
    return ImageAnnotations(key=sample.key, instances=instances, image_size=(width, height))


__all__ = ["FITTED", "FIT_REASONS", "RotatedDetectionDataset", "build_rotated_datasets", "refine_box_sample",
           "rotated_boxes_for_annotations", "rotated_ground_truth", "rotated_target"]
