"""Anchor-to-chromosome assignment by skew-IoU (DeepCHM Sec. III.D) without an M x N matrix.

Positives: anchors with skew-IoU >= pos_iou (0.6) to some box, plus each box's best anchor.
Negatives: anchors with skew-IoU <= neg_iou (0.4) to every box. The rest is ignored. Without
SGAch an image has ~10^6 anchors, so exact IoUs are computed only for pairs whose axis-aligned
extents overlap (all other pairs have IoU 0) and the
per-anchor summaries (max, argmax and sum over boxes, the last for Eq. 11's u) are scattered.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from karyostudio.models.rotated.geometry import rotated_iou_pairwise

# Pairs per exact-IoU call: bounds the temporary memory of the pairwise IoU.
_PAIR_CHUNK = 1 << 18


@dataclass
class Assignment:
    max_iou: torch.Tensor  # [M] best skew-IoU of each anchor to any box
    gt_index: torch.Tensor  # [M] long, the box each anchor is assigned to (its best, or forced)
    sum_iou: torch.Tensor  # [M] sum of skew-IoUs over all boxes (Eq. 11's denominator)
    positive: torch.Tensor  # [M] bool
    negative: torch.Tensor  # [M] bool

    @property
    def overlap_degree(self) -> torch.Tensor:
        """u (Eq. 11): max over boxes of the skew-IoU divided by their sum (1 where the sum is 0)."""
        return torch.where(self.sum_iou > 0, self.max_iou / self.sum_iou.clamp_min(1e-12),
                           torch.ones_like(self.max_iou))


def half_extents(boxes: torch.Tensor) -> torch.Tensor:
    """[N, 2] half widths and heights of the axis-aligned extents of rotated boxes [N, 5]."""
    t = torch.deg2rad(boxes[:, 4])
    cos, sin = torch.cos(t).abs(), torch.sin(t).abs()
    half_w, half_h = boxes[:, 2] / 2, boxes[:, 3] / 2
    return torch.stack([cos * half_w + sin * half_h, sin * half_w + cos * half_h], dim=1)


def assign_anchors(anchors: torch.Tensor, boxes: torch.Tensor, pos_iou: float, neg_iou: float) -> Assignment:
    """Assignment of anchors [M, 5] to ground-truth boxes [N, 5] (both in input pixels)."""
    m, device = len(anchors), anchors.device
    max_iou = torch.zeros(m, device=device)
    sum_iou = torch.zeros(m, device=device)
    gt_index = torch.zeros(m, dtype=torch.long, device=device)
    if len(boxes) == 0 or m == 0:
        none = torch.zeros(m, dtype=torch.bool, device=device)
        return Assignment(max_iou, gt_index, sum_iou, none, ~none)
    anchor_half = half_extents(anchors)
    box_half = half_extents(boxes)
    best_anchor = torch.zeros(len(boxes), dtype=torch.long, device=device)
    best_value = torch.zeros(len(boxes), device=device)
    for n, box in enumerate(boxes.detach()):
        reach = anchor_half + box_half[n]
        near = torch.nonzero(((anchors[:, :2] - box[:2]).abs() < reach).all(dim=1)).reshape(-1)
        if len(near) == 0:
            continue
        ious = torch.cat([rotated_iou_pairwise(anchors[part].detach(), box.expand(len(part), 5))
                          for part in near.split(_PAIR_CHUNK)]).to(max_iou.dtype)
        sum_iou.index_add_(0, near, ious)
        better = ious > max_iou[near]
        max_iou[near[better]] = ious[better]
        gt_index[near[better]] = n
        top = int(torch.argmax(ious))
        best_anchor[n], best_value[n] = near[top], ious[top]
    positive = max_iou >= pos_iou
    negative = (max_iou <= neg_iou) & ~positive
    # Each box keeps its best anchor, even below pos_iou, so that no chromosome goes unlearned.
    forced = best_value > 0
    positive[best_anchor[forced]] = True
    negative[best_anchor[forced]] = False
    gt_index[best_anchor[forced]] = torch.nonzero(forced).reshape(-1)
    return Assignment(max_iou, gt_index, sum_iou, positive, negative)
