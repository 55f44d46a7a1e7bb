"""Cut one chromosome out of a metaphase image and stand it upright.

The cut-out keeps only the pixels inside the instance's own outline (everything else becomes
white), so a neighbour that reaches into its bounding box never shows up in a karyogram slot.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.io.images import to_display_uint8

WHITE = 255


def to_gray_uint8(image: np.ndarray) -> np.ndarray:
    """A 2-D uint8 image for display: colour becomes gray, 16-bit data is contrast-stretched."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY) if img.shape[2] >= 3 else img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale or 3-D colour image, got shape {img.shape}")
    return img if img.dtype == np.uint8 else to_display_uint8(img)


def long_axis_angle(instance: Instance) -> float:
    """Direction of the chromosome's long axis in degrees (image coordinates, y down).

    Uses attributes["rotated_box"] = [cx, cy, w, h, theta_deg] when present (the convention of
    karyostudio.geometry.rotated, which is OpenCV's RotatedRect: the w side runs along
    (cos theta, sin theta)), else the minimum-area rectangle of the outline.
    """
    box = instance.attributes.get("rotated_box")
    if box is not None and len(box) == 5:
        cx, cy, w, h, theta = (float(v) for v in box)
        rect = ((cx, cy), (w, h), theta)
    else:
        rect = cv2.minAreaRect(instance.polygon.astype(np.float32))
    corners = cv2.boxPoints(rect)
    edges = [corners[1] - corners[0], corners[2] - corners[1]]
    dx, dy = max(edges, key=lambda e: float(np.hypot(*e)))
    return math.degrees(math.atan2(float(dy), float(dx)))


def upright_cutout(gray: np.ndarray, instance: Instance) -> np.ndarray | None:
    """The instance's pixels on white, rotated so its long axis is vertical, cropped tight.

    Returns None when the outline covers no pixel centre (nothing to show).
    """
    h_img, w_img = gray.shape
    x0, y0, x1, y1 = instance.bbox
    c0, r0 = max(0, int(math.floor(x0))), max(0, int(math.floor(y0)))
    c1, r1 = min(w_img, int(math.ceil(x1))), min(h_img, int(math.ceil(y1)))
    if c1 <= c0 or r1 <= r0:
        return None
    mask = polygon_to_mask(instance.polygon - (c0, r0), (r1 - r0, c1 - c0))
    if not mask.any():
        return None
    patch = np.where(mask, gray[r0:r1, c0:c1], WHITE).astype(np.uint8)
    patch, mask = _rotate_upright(patch, mask, long_axis_angle(instance))
    rows, cols = np.nonzero(mask)
    patch = patch[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    if patch.shape[1] > patch.shape[0]:  # a near-square outline whose box axis was ambiguous
        patch = np.rot90(patch)
    return np.ascontiguousarray(patch)


def _rotate_upright(patch: np.ndarray, mask: np.ndarray, axis_deg: float) -> tuple[np.ndarray, np.ndarray]:
    # cv2's rotation by theta maps a direction at angle a to a - theta, so theta = a - 90 makes
    # the axis vertical; theta and theta + 180 both work, take the smaller turn.
    theta = axis_deg % 180.0 - 90.0  # in [-90, 90)
    quarter = round(theta / 90.0)
    if abs(theta - 90.0 * quarter) < 1e-6:  # exact quarter turns: no resampling
        return np.rot90(patch, quarter), np.rot90(mask, quarter)
    h, w = patch.shape
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), theta, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(math.ceil(h * sin + w * cos)) + 2, int(math.ceil(h * cos + w * sin)) + 2
    matrix[0, 2] += new_w / 2.0 - w / 2.0
    matrix[1, 2] += new_h / 2.0 - h / 2.0
    rotated = cv2.warpAffine(patch, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=WHITE)
    rotated_mask = cv2.warpAffine(mask.astype(np.uint8), matrix, (new_w, new_h), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    if not rotated_mask.any():  # a sliver thinner than a pixel: keep it unrotated
        return patch, mask
    return np.where(rotated_mask, rotated, WHITE).astype(np.uint8), rotated_mask
