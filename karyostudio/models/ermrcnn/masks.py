"""Masks in a rotated RoI's frame: training targets (forward warp) and pasting back (inverse warp).

The mask head predicts an m x m mask over each (rotated) box: columns along the box's w side,
rows along its h side, exactly the frame roi_align_rotated samples. ``mask_targets`` warps a
ground-truth mask into that frame with the same sampler; ``paste_mask`` warps an m x m mask back
onto image pixels inside the box's extent (pixel (c, r) has its centre at (c + 0.5, r + 0.5)).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from karyostudio.models.rotated.geometry import box_extents
from karyostudio.models.rotated.roi_align_rotated import roi_align_rotated


def mask_targets(gt_masks: torch.Tensor, matched: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """[K, size, size] binary targets: gt_masks[matched[k]] ([G, H, W]) seen in the frame of boxes[k]."""
    if len(boxes) == 0:
        return gt_masks.new_zeros((0, size, size), dtype=torch.float32)
    rois = torch.cat([matched[:, None].to(boxes.dtype), boxes], dim=1)
    sampled = roi_align_rotated(gt_masks[:, None].float(), rois, size, 1.0, sampling_ratio=2)[:, 0]
    return (sampled >= 0.5).float()


def paste_window(mask: torch.Tensor, box: torch.Tensor, image_hw: tuple[int, int]
                 ) -> tuple[int, int, torch.Tensor] | None:
    """(row0, col0, values [h, w]) of an m x m mask pasted into the box's extent; None if outside.

    Bilinear; zero outside the box. The window is the box's axis-aligned extent clipped to the image.
    """
    height, width = image_hw
    lo, hi = box_extents(box[None].detach())
    c0, r0 = max(int(math.floor(float(lo[0, 0]))), 0), max(int(math.floor(float(lo[0, 1]))), 0)
    c1, r1 = min(int(math.ceil(float(hi[0, 0]))), width), min(int(math.ceil(float(hi[0, 1]))), height)
    cx, cy, w, h, theta = (float(v) for v in box)
    if c1 <= c0 or r1 <= r0 or w <= 0 or h <= 0:
        return None
    xs = torch.arange(c0, c1, dtype=torch.float32, device=mask.device) + 0.5 - cx
    ys = torch.arange(r0, r1, dtype=torch.float32, device=mask.device) + 0.5 - cy
    t = math.radians(theta)
    cos, sin = math.cos(t), math.sin(t)
    # Box-frame fractions in [-0.5, 0.5]; for grid_sample (align_corners=False) the mask's outer
    # edges are -1 and +1, i.e. twice the fraction.
    fu = (xs[None, :] * cos + ys[:, None] * sin) / w
    fv = (-xs[None, :] * sin + ys[:, None] * cos) / h
    grid = torch.stack([2 * fu, 2 * fv], dim=-1)[None]
    values = F.grid_sample(mask[None, None].float(), grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)[0, 0]
    return r0, c0, values


def paste_mask(mask: torch.Tensor, box: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
    """The full-image [H, W] paste of one m x m mask (for tests and small images)."""
    out = torch.zeros(image_hw, dtype=torch.float32, device=mask.device)
    window = paste_window(mask, box, image_hw)
    if window is not None:
        r0, c0, values = window
        out[r0:r0 + values.shape[0], c0:c0 + values.shape[1]] = values
    return out


def window_iou(a: tuple[int, int, torch.Tensor], b: tuple[int, int, torch.Tensor]) -> float:
    """IoU of two binary windows (row0, col0, bool [h, w]) in a shared image."""
    ra, ca, ma = a
    rb, cb, mb = b
    r0, c0 = max(ra, rb), max(ca, cb)
    r1, c1 = min(ra + ma.shape[0], rb + mb.shape[0]), min(ca + ma.shape[1], cb + mb.shape[1])
    inter = 0
    if r1 > r0 and c1 > c0:
        inter = int((ma[r0 - ra:r1 - ra, c0 - ca:c1 - ca] & mb[r0 - rb:r1 - rb, c0 - cb:c1 - cb]).sum())
    union = int(ma.sum()) + int(mb.sum()) - inter
    return inter / union if union else 0.0


def mask_nms(windows: list[tuple[int, int, torch.Tensor] | None], scores: torch.Tensor, threshold: float) -> list[int]:
    """Greedy NMS on binary masks (class-agnostic): indices kept, by decreasing score. Empty masks go."""
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    kept: list[int] = []
    for i in order:
        if windows[i] is None or not bool(windows[i][2].any()):
            continue
        if all(window_iou(windows[i], windows[j]) <= threshold for j in kept):
            kept.append(i)
    return kept
