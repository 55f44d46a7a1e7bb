"""Training samples of the centre detector: any detection source, normalised in scale, heavily augmented.

Every image is rescaled so that its chromosomes' median box diagonal becomes the spec's
``chromosome_px`` times a random factor (``scale_range``): the network learns one chromosome
size and the detector measures each new image's size before running at that scale, so cells
from other microscopes and cameras look the same to it. Then: flips and quarter turns (exact for
boxes), a free rotation for samples with true outlines (synthetic cells), a random window of
``crop`` pixels, and photometric changes that other labs' images show: gamma, contrast,
brightness, uneven illumination, blur and noise. Boxes cut by the window keep their visible
part when at least half of them is inside; smaller remnants are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from karyostudio.geometry.polygons import polygon_bbox
from karyostudio.io.errors import ImageReadError
from karyostudio.models.centernet.spec import CenterNetSpec
from karyostudio.models.centernet.targets import make_targets
from karyostudio.training.config import ConfigError
from karyostudio.training.detection_data import Key, SampleSource
from karyostudio.training.transforms import DetectionSample, hflip, rot90, rotate, vflip


@dataclass(frozen=True)
class DetectorAugment:
    scale_range: tuple[float, float] = (0.75, 1.35)  # factor on the normalised chromosome size
    rotate_prob: float = 0.5  # free rotation (samples with outlines only)
    gamma: float = 0.35  # log-gamma drawn in +- gamma
    contrast: float = 0.3
    brightness: float = 0.12
    illumination_prob: float = 0.3  # a smooth brightness gradient across the field
    blur_prob: float = 0.3
    max_blur_sigma: float = 1.5
    noise_prob: float = 0.3
    max_noise: float = 10.0  # grey levels (standard deviation)


def median_diagonal(boxes: np.ndarray) -> float | None:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return None
    return float(np.median(np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))


def sample_boxes(sample: DetectionSample) -> np.ndarray:
    return np.array([polygon_bbox(p) for p in sample.polygons], np.float64).reshape(-1, 4)


def rescale(sample: DetectionSample, factor: float) -> DetectionSample:
    height, width = sample.image.shape
    size = (max(1, int(round(width * factor))), max(1, int(round(height * factor))))
    image = cv2.resize(sample.image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    fx, fy = size[0] / width, size[1] / height
    return replace(sample, image=image, polygons=tuple(p * np.array([fx, fy]) for p in sample.polygons))


def window(image: np.ndarray, boxes: np.ndarray, crop: int, rng: np.random.Generator | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """A crop x crop window (random, or centred without rng), padded with the background grey;
    boxes clipped to it, those with less than half their area inside dropped."""
    height, width = image.shape
    fill = int(np.median(image))
    x0 = int(rng.integers(0, width - crop + 1)) if width > crop and rng is not None else (width - crop) // 2
    y0 = int(rng.integers(0, height - crop + 1)) if height > crop and rng is not None else (height - crop) // 2
    out = np.full((crop, crop), fill, np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + crop, width), min(y0 + crop, height)
    out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    shifted = boxes - np.array([x0, y0, x0, y0], np.float64)
    clipped = np.clip(shifted, 0, crop)
    area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # noqa: E731
    keep = area(clipped) >= 0.5 * np.maximum(area(shifted), 1e-6)
    keep &= (clipped[:, 2] - clipped[:, 0] >= 2) & (clipped[:, 3] - clipped[:, 1] >= 2)
    return out, clipped[keep]


def photometric(image: np.ndarray, aug: DetectorAugment, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    x = np.clip(x, 0, 1) ** float(np.exp(rng.uniform(-aug.gamma, aug.gamma)))
    x = (x - 0.5) * rng.uniform(1 - aug.contrast, 1 + aug.contrast) + 0.5 + rng.uniform(-aug.brightness, aug.brightness)
    if rng.random() < aug.illumination_prob:
        h, w = x.shape
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * np.arange(w)[None, :] / w + np.sin(angle) * np.arange(h)[:, None] / h)
        x = x + rng.uniform(0.05, 0.2) * (ramp - ramp.mean())
    if rng.random() < aug.blur_prob:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, aug.max_blur_sigma))
    if rng.random() < aug.noise_prob:
        x = x + rng.normal(0, rng.uniform(1, aug.max_noise) / 255.0, x.shape).astype(np.float32)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


class CenterNetDataset(Dataset):
    """(1 x crop x crop image tensor in [0, 1], targets) of a source; integer keys give the
    un-augmented, centred window (validation), (index, seed words) keys an augmented one."""

    def __init__(self, source: SampleSource, spec: CenterNetSpec, crop: int, augment: DetectorAugment | None = None):
        if crop % 32:
            raise ConfigError(f"settings.crop must be a multiple of 32, got {crop}")
        self.source, self.spec, self.crop, self.augment = source, spec, crop, augment

    def __len__(self) -> int:
        return len(self.source)

    def prepared(self, key: Key) -> tuple[np.ndarray, np.ndarray, str]:
        """(uint8 window, boxes in its pixels, sample key)."""
        index, words = (key, None) if isinstance(key, int) else key
        try:
            sample = self.source.load(index)
        except ImageReadError as exc:
            raise ConfigError(f"training image cannot be read: {exc}") from None
        rng = None if words is None or self.augment is None else np.random.default_rng(list(words))
        diagonal = median_diagonal(sample_boxes(sample))
        factor = self.spec.default_scale if diagonal is None else self.spec.chromosome_px / diagonal
        if rng is not None:
            low, high = self.augment.scale_range
            factor *= float(np.exp(rng.uniform(np.log(low), np.log(high))))
        sample = rescale(sample, factor)
        if rng is not None:
            if rng.random() < 0.5:
                sample = hflip(sample)
            if rng.random() < 0.5:
                sample = vflip(sample)
            sample = rot90(sample, int(rng.integers(4)))
            if sample.has_masks and rng.random() < self.augment.rotate_prob:
                sample = rotate(sample, float(rng.uniform(-180, 180)))
        image, boxes = window(sample.image, sample_boxes(sample), self.crop, rng)
        if rng is not None:
            image = photometric(image, self.augment, rng)
        return image, boxes, sample.key

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image, boxes, _ = self.prepared(key)
        targets = make_targets(boxes, image.shape, self.spec)
        tensor = torch.from_numpy(np.ascontiguousarray(image)).float().div_(255.0)[None]
        out = {k: torch.from_numpy(v) for k, v in targets.items()}
        out["boxes"] = torch.from_numpy(boxes.astype(np.float32))
        return tensor, out


def collate(items: list[tuple[torch.Tensor, dict[str, torch.Tensor]]]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    images = torch.stack([i for i, _ in items])
    targets = {k: torch.stack([t[k] for _, t in items]) for k in ("heatmap", "box", "box_weight")}
    return images, targets
