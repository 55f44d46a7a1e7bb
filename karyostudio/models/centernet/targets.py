"""Training targets of the detector from axis-aligned boxes (TTFNet's, see spec.py), and its losses.

Targets live on the stride-4 output grid; cell (i, j) stands for input pixel location
((j + 0.5) * stride, (i + 0.5) * stride). Boxes are drawn largest first so that where two
objects' regression areas overlap the smaller one wins (its box is the harder one to see).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from karyostudio.models.centernet.spec import CenterNetSpec

_EPS = 1e-6


def cell_centres(height: int, width: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) input-pixel locations of the output cells, each of shape height x width."""
    xs = (np.arange(width, dtype=np.float32) + 0.5) * stride
    ys = (np.arange(height, dtype=np.float32) + 0.5) * stride
    return np.meshgrid(xs, ys)


def make_targets(boxes: np.ndarray, image_shape: tuple[int, int], spec: CenterNetSpec) -> dict[str, np.ndarray]:
    """Targets for boxes (N x 4, x0 y0 x1 y1 input pixels) on an image of (H, W), H and W multiples of 4.

    heatmap (h x w): 1 at each box centre's cell, elliptical Gaussians around it;
    box (4 x h x w): the box (x0, y0, x1, y1) that cell should regress; box_weight (h x w): its
    loss weight (log area x Gaussian, normalised per object), 0 where nothing is regressed.
    """
    stride = spec.stride
    height, width = image_shape[0] // stride, image_shape[1] // stride
    heatmap = np.zeros((height, width), np.float32)
    box = np.zeros((4, height, width), np.float32)
    weight = np.zeros((height, width), np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return {"heatmap": heatmap, "box": box, "box_weight": weight}
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    xs, ys = cell_centres(height, width, stride)
    for k in np.argsort(-areas, kind="stable"):
        x0, y0, x1, y1 = boxes[k]
        w, h = (x1 - x0) / stride, (y1 - y0) / stride
        if w <= 0 or h <= 0:
            continue
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        ci, cj = min(int(cy), height - 1), min(int(cx), width - 1)
        if not (0 <= cy < height and 0 <= cx < width):
            continue
        # Gaussians over the cells: centred on the centre's cell (the peak must be exactly 1 there).
        gx = (np.arange(width, dtype=np.float32) - cj) ** 2
        gy = (np.arange(height, dtype=np.float32) - ci) ** 2
        sx, sy = max(spec.alpha * w / 6, 0.5), max(spec.alpha * h / 6, 0.5)
        g = np.exp(-gy[:, None] / (2 * sy * sy) - gx[None, :] / (2 * sx * sx))
        np.maximum(heatmap, g, out=heatmap)
        heatmap[ci, cj] = 1.0
        bx, by = max(spec.beta * w / 6, 0.5), max(spec.beta * h / 6, 0.5)
        gb = np.exp(-gy[:, None] / (2 * by * by) - gx[None, :] / (2 * bx * bx))
        inside = (xs > x0) & (xs < x1) & (ys > y0) & (ys < y1) & (gb > 0.05)
        inside[ci, cj] = True
        gb = np.where(inside, gb, 0.0)
        box[:, inside] = np.array([x0, y0, x1, y1], np.float32)[:, None]
        weight[inside] = (gb[inside] / gb.sum() * np.log(max(float(areas[k]), 2.0))).astype(np.float32)
    return {"heatmap": heatmap, "box": box, "box_weight": weight}


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """CenterNet's penalty-reduced pixel focal loss, averaged over the objects (peaks == 1)."""
    prob = torch.sigmoid(logits).clamp(_EPS, 1 - _EPS)
    pos = target.ge(1.0 - 1e-4).float()
    pos_loss = -torch.log(prob) * (1 - prob) ** alpha * pos
    neg_loss = -torch.log(1 - prob) * prob ** alpha * (1 - target) ** beta * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


def decoded_boxes(distances: torch.Tensor, stride: int) -> torch.Tensor:
    """N x 4 x h x w side distances (l, t, r, b) -> boxes (x0, y0, x1, y1) in input pixels."""
    n, _, h, w = distances.shape
    xs = (torch.arange(w, device=distances.device, dtype=distances.dtype) + 0.5) * stride
    ys = (torch.arange(h, device=distances.device, dtype=distances.dtype) + 0.5) * stride
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx - distances[:, 0], yy - distances[:, 1], xx + distances[:, 2], yy + distances[:, 3]], 1)


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - GIoU of matching boxes (M x 4 each)."""
    area_p = (pred[:, 2] - pred[:, 0]).clamp(min=0) * (pred[:, 3] - pred[:, 1]).clamp(min=0)
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    iw = (torch.min(pred[:, 2], target[:, 2]) - torch.max(pred[:, 0], target[:, 0])).clamp(min=0)
    ih = (torch.min(pred[:, 3], target[:, 3]) - torch.max(pred[:, 1], target[:, 1])).clamp(min=0)
    inter = iw * ih
    union = area_p + area_t - inter
    iou = inter / union.clamp(min=_EPS)
    ew = torch.max(pred[:, 2], target[:, 2]) - torch.min(pred[:, 0], target[:, 0])
    eh = torch.max(pred[:, 3], target[:, 3]) - torch.min(pred[:, 1], target[:, 1])
    enclosing = (ew * eh).clamp(min=_EPS)
    return 1 - (iou - (enclosing - union) / enclosing)


def losses(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], spec: CenterNetSpec
           ) -> dict[str, torch.Tensor]:
    """{"heatmap", "box"} losses of a batch; targets are make_targets' arrays stacked as tensors."""
    heat = focal_loss(outputs["heatmap"][:, 0], targets["heatmap"], spec.focal_alpha, spec.focal_beta)
    weight = targets["box_weight"]
    mask = weight > 0
    if not bool(mask.any()):
        return {"heatmap": heat, "box": outputs["box"].sum() * 0.0}
    pred = decoded_boxes(outputs["box"], spec.stride).permute(0, 2, 3, 1)[mask]
    true = targets["box"].permute(0, 2, 3, 1)[mask]
    w = weight[mask]
    box = (giou_loss(pred, true) * w).sum() / w.sum().clamp(min=_EPS) * spec.box_weight
    return {"heatmap": heat, "box": box}


def total_loss(parts: dict[str, torch.Tensor]) -> torch.Tensor:
    return parts["heatmap"] + parts["box"]


def peaks(heatmap_logits: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """Probabilities kept only at local maxima (a kernel x kernel max-pool), N x 1 x h x w."""
    prob = torch.sigmoid(heatmap_logits)
    pooled = F.max_pool2d(prob, kernel, stride=1, padding=kernel // 2)
    return prob * (pooled == prob)
