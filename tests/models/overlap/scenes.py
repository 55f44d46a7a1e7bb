"""Drawn test cells whose ChromSeg maps are known exactly, and a segmenter that reads them.

Chromosomes are flat-ended bars on a bright background: one chromosome is grey (120), two
layers of chromatin where bars cross are dark (40). ThresholdSegmenter turns those grey levels
back into the exact foreground and crossing maps, standing in for a trained network.
"""

from __future__ import annotations

import cv2
import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import mask_to_polygon

BACKGROUND, SINGLE, DOUBLE = 220, 120, 40


def bar(shape: tuple[int, int], p0, p1, width: float) -> np.ndarray:
    a, b = np.asarray(p0, float), np.asarray(p1, float)
    d = (b - a) / np.linalg.norm(b - a)
    n = np.array([-d[1], d[0]]) * width / 2
    corners = np.array([a + n, b + n, b - n, a - n])
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(corners * 16).astype(np.int32)], 1, shift=4)
    return mask.astype(bool)


def render(shape: tuple[int, int], chromosomes: list[np.ndarray]) -> np.ndarray:
    count = np.sum([c.astype(np.uint8) for c in chromosomes], axis=0)
    image = np.full(shape, BACKGROUND, np.uint8)
    image[count == 1] = SINGLE
    image[count >= 2] = DOUBLE
    return image


def outline(mask: np.ndarray, id_: int, **fields) -> Instance:
    return Instance(id=id_, polygon=mask_to_polygon(mask), **fields)


class ThresholdSegmenter:
    """Exact maps of a drawn cell; counts its calls."""

    name = "threshold-test"
    threshold = 0.5

    def __init__(self) -> None:
        self.calls = 0

    def predict_maps(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return (crop < (BACKGROUND + SINGLE) / 2).astype(np.float32), (crop < (SINGLE + DOUBLE) / 2).astype(np.float32)


class FixedPredictor:
    """A predictor that returns the same outlines for every image."""

    name = "fixed"
    description = "returns fixed outlines"

    def __init__(self, instances: list[Instance], on_predict=None) -> None:
        self.instances = instances
        self.on_predict = on_predict

    def predict(self, image, *, progress=None, cancel=None):
        if progress is not None:
            progress(1, 2, "half")
            progress(2, 2, "done")
        if self.on_predict is not None:
            self.on_predict()
        return list(self.instances)
