"""Greedy skew-NMS on exact rotated-box IoU (pure torch + numpy bookkeeping).

Unlike OpenCV's ``NMSBoxesRotated``, which treats a box inside another as IoU 1, a small box
inside a big one is suppressed only when its true IoU (the area ratio) exceeds the threshold.

Two strategies give the same result. On CPU the greedy pass measures, for the boxes it is
about to keep, only the later boxes still alive whose extents touch them: with the heavy
suppression NMS is used for (dense candidates on few objects) that is a small fraction of
all pairs. On a GPU one
batched N x N IoU is cheaper than many small launches, and the greedy pass then reads it.
"""

from __future__ import annotations

import numpy as np
import torch

from karyostudio.models.rotated.boxes import box_area, box_corners, box_extents, check_boxes
from karyostudio.models.rotated.skew_iou import iou_from_corners, rotated_iou


def _check(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> None:
    check_boxes(boxes)
    if boxes.ndim != 2:
        raise ValueError(f"skew_nms expects boxes [N, 5], got {tuple(boxes.shape)}")
    if scores.shape != boxes.shape[:1]:
        raise ValueError(f"scores must have shape [{boxes.shape[0]}], got {tuple(scores.shape)}")
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must lie in [0, 1], got {iou_threshold}")


def _greedy_rows(boxes: torch.Tensor, threshold: float) -> list[int]:
    """Kept positions of score-sorted boxes, measuring only the pairs the greedy pass reads.

    Boxes are visited in blocks of the next alive ones; each block's pairs with the later alive
    boxes whose extents touch them are measured in one batch, then the block is resolved in
    order. The block doubles while most of its boxes survive (sparse boxes: few batches) and
    halves while most are suppressed (dense boxes: few wasted pairs).
    """
    corners, area = box_corners(boxes), box_area(boxes)
    lo, hi = (t.cpu().numpy() for t in box_extents(boxes))
    has_area = area.cpu().numpy() > 0
    n = len(boxes)
    suppressed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    position, block = 0, 1
    while position < n:
        heads = np.nonzero(~suppressed[position:])[0][:block] + position
        if len(heads) == 0:
            break
        later = np.arange(heads[0] + 1, n)
        alive = later[~suppressed[later] & has_area[later]]
        touching = ((alive[None, :] > heads[:, None]) & has_area[heads][:, None]
                    & np.all(lo[alive][None] < hi[heads][:, None], axis=2)
                    & np.all(lo[heads][:, None] < hi[alive][None], axis=2))
        rows, cols = np.nonzero(touching)
        first, second = heads[rows], alive[cols]
        over = np.zeros(0, dtype=bool)
        if len(first):
            a, b = torch.from_numpy(first).to(boxes.device), torch.from_numpy(second).to(boxes.device)
            over = (iou_from_corners(corners[a], corners[b], area[a], area[b]) > threshold).cpu().numpy()
        kept_before = len(keep)
        for k, i in enumerate(heads):
            if suppressed[i]:
                continue
            keep.append(int(i))
            suppressed[second[(rows == k) & over]] = True
        block = min(block * 2, 256) if 2 * (len(keep) - kept_before) > len(heads) else max(block // 2, 1)
        position = int(heads[-1]) + 1
    return keep


def _greedy_matrix(boxes: torch.Tensor, threshold: float) -> list[int]:
    above = (rotated_iou(boxes, boxes) > threshold).cpu().numpy()
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for i in range(len(boxes)):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= above[i]
    return keep


def skew_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, *,
             strategy: str = "auto") -> torch.Tensor:
    """Indices (LongTensor, by decreasing score) of the boxes greedy NMS keeps.

    A box is removed when its exact IoU with a higher-scoring kept box is > iou_threshold; ties
    in score keep the earlier box. ``strategy``: "rows" (CPU default), "matrix" (GPU default).
    """
    _check(boxes, scores, iou_threshold)
    if strategy not in ("auto", "rows", "matrix"):
        raise ValueError(f"strategy must be 'auto', 'rows' or 'matrix', got {strategy!r}")
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    if strategy == "auto":
        strategy = "rows" if boxes.device.type == "cpu" else "matrix"
    with torch.no_grad():
        order = scores.argsort(descending=True, stable=True)
        ranked = boxes.detach()[order]
        keep = (_greedy_rows if strategy == "rows" else _greedy_matrix)(ranked, float(iou_threshold))
    return order[torch.as_tensor(keep, dtype=torch.long, device=boxes.device)]


def batched_skew_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                     iou_threshold: float) -> torch.Tensor:
    """skew_nms applied per label (boxes of different labels never suppress each other)."""
    check_boxes(boxes)
    if labels.shape != boxes.shape[:1]:
        raise ValueError(f"labels must have shape [{boxes.shape[0]}], got {tuple(labels.shape)}")
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    # Translating each label's boxes far apart is exact for IoU and needs a single NMS pass.
    lo, hi = box_extents(boxes.detach())
    span = float((hi.max() - lo.min()).item()) + 1.0
    shifted = boxes.detach().to(torch.float64, copy=True)  # float64: large shifts keep sub-pixel precision
    shifted[:, 0] = shifted[:, 0] - lo[:, 0].min().to(torch.float64) + labels.to(torch.float64) * span
    return skew_nms(shifted, scores, iou_threshold)
