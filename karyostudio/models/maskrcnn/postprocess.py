"""raw_to_instances: the one place where Mask R-CNN output becomes karyostudio Instances.

Input is one image's raw detections as ``inference.detect`` returns them: boxes (N x 4, x0 y0
x1 y1 in the pixels of the image the network saw), labels (N, 1..24 = CLASS_NAMES index + 1;
0 is background), scores (N), masks (N x 1 x M x M probabilities over each box). ``scale``
maps network pixels back to the caller's image (x, y factors: original / network). Every kept
mask is resampled into its box at the original resolution (bilinear, box-sized memory only),
thresholded and traced into a pixel-edge polygon; a detection whose mask is empty there is
dropped (it has no outline to review). Instances come out by descending score with ids 1..n,
score = the classifier's confidence, label = canonical class name, source = the model's name,
and attributes["box"] = the detector's box in image pixels.
"""

from __future__ import annotations

import math
from typing import Mapping

import cv2
import numpy as np

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import mask_to_polygon


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy() if value.is_floating_point() else value.detach().cpu().numpy()
    return np.asarray(value)


def raw_to_instances(raw: Mapping[str, object], image_shape: tuple[int, int], *, source: str,
                     scale: tuple[float, float] = (1.0, 1.0), score_threshold: float = 0.5,
                     mask_threshold: float = 0.5) -> list[Instance]:
    """Instances (image pixel coordinates of an image of ``image_shape`` = (height, width))."""
    boxes = _numpy(raw["boxes"]).reshape(-1, 4).astype(np.float64)
    labels = _numpy(raw["labels"]).reshape(-1).astype(np.int64)
    scores = _numpy(raw["scores"]).reshape(-1).astype(np.float64)
    masks = _numpy(raw["masks"])
    if not len(boxes) == len(labels) == len(scores) == len(masks):
        raise ValueError(f"raw output lengths differ: {len(boxes)} boxes, {len(labels)} labels, "
                         f"{len(scores)} scores, {len(masks)} masks")
    if np.any((labels < 1) | (labels > len(CLASS_NAMES))):
        raise ValueError(f"labels must lie in 1..{len(CLASS_NAMES)} (0 is background), got {sorted(set(labels))}")
    sx, sy = scale
    boxes = boxes / np.array([sx, sy, sx, sy])
    instances: list[Instance] = []
    for k in np.argsort(-scores, kind="stable"):
        if scores[k] < score_threshold:
            break
        polygon = _box_mask_polygon(masks[k].reshape(masks.shape[-2:]), boxes[k], image_shape, mask_threshold)
        if polygon is None:
            continue
        instances.append(Instance(id=len(instances) + 1, polygon=polygon, label=CLASS_NAMES[labels[k] - 1],
                                  score=float(np.clip(scores[k], 0.0, 1.0)), source=source,
                                  attributes={"box": [round(float(v), 2) for v in boxes[k]]}))
    return instances


def _box_mask_polygon(prob: np.ndarray, box: np.ndarray, image_shape: tuple[int, int],
                      threshold: float) -> np.ndarray | None:
    """Resample an M x M box mask onto the image pixels its box covers; trace the thresholded result."""
    height, width = image_shape[:2]
    x0, y0, x1, y1 = box
    c0, r0 = max(math.floor(x0), 0), max(math.floor(y0), 0)
    c1, r1 = min(math.ceil(x1), width), min(math.ceil(y1), height)
    if c1 <= c0 or r1 <= r0 or x1 <= x0 or y1 <= y0:
        return None
    m_h, m_w = prob.shape
    # Window pixel (j, i) has its centre at (c0 + j + 0.5, r0 + i + 0.5); in mask index
    # coordinates (cell centres at k + 0.5 - 0.5 = k) that is (x - x0) * M / w - 0.5.
    ax, ay = m_w / (x1 - x0), m_h / (y1 - y0)
    inverse = np.array([[ax, 0.0, (c0 + 0.5 - x0) * ax - 0.5],
                        [0.0, ay, (r0 + 0.5 - y0) * ay - 0.5]], dtype=np.float64)
    window = cv2.warpAffine(prob.astype(np.float32), inverse, (c1 - c0, r1 - r0),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    polygon = mask_to_polygon(window >= threshold)
    if polygon is None:
        return None
    return polygon + np.array([c0, r0], dtype=np.float64)
