"""The region proposal network of Enhanced Rotated Mask R-CNN: upright anchors, rotated proposals.

Every FPN level has upright anchors of one size and several h / w ratios. Anchors are matched
to chromosomes by the IoU of the anchor with the chromosome's axis-aligned box (cheap, and the
same rule that gives isolated chromosomes their proposals in the axis-aligned detector); the
matched anchor then regresses the chromosome's rotated box with the deltas of Eq. (1) (angle
relative to the anchor's 0 or 90 degrees).

Proposals are thinned by angle-binned NMS (:func:`binned_rotated_nms`): exact skew-NMS over
thousands of overlapping proposals costs millions of polygon intersections per image, so each
box is assigned to the nearest of ``ANGLE_BINS`` directions, described by its tight axis-aligned
box in that direction's frame (at most 15 degrees off, so nearly its own rectangle), and NMS runs
per bin. Two crossing chromosomes fall into different bins and both survive, which plain
axis-aligned NMS would not allow; the final detections use exact skew-NMS.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.ops import batched_nms, box_iou

from karyostudio.models.rotated.geometry import boxes_to_xyxy, decode, encode, normalize_boxes, wrap_degrees

STRIDES = (4, 8, 16, 32, 64)
RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0)
MIN_SIZE = 1.0  # px; smaller proposals are dropped
ANGLE_BINS = 6  # 30 degrees apart


def level_anchors(height: int, width: int, stride: int, size: float, ratios: Sequence[float],
                  device: torch.device) -> torch.Tensor:
    """Upright rotated anchors [height * width * len(ratios), 5] (location-major, ratio-minor)."""
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) * stride
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    r = torch.tensor(ratios, dtype=torch.float32, device=device)
    w, h = size / torch.sqrt(r), size * torch.sqrt(r)
    n, a = cx.numel(), len(ratios)
    boxes = torch.stack([cx.reshape(n, 1).expand(n, a), cy.reshape(n, 1).expand(n, a), w.expand(n, a),
                         h.expand(n, a), torch.zeros(n, a, device=device)], dim=-1)
    return normalize_boxes(boxes.reshape(-1, 5))


def upright_xyxy(anchors: torch.Tensor) -> torch.Tensor:
    """(x0, y0, x1, y1) of upright rotated boxes (theta 0 or 90)."""
    swap = anchors[:, 4] >= 45.0
    w = torch.where(swap, anchors[:, 3], anchors[:, 2])
    h = torch.where(swap, anchors[:, 2], anchors[:, 3])
    return torch.stack([anchors[:, 0] - w / 2, anchors[:, 1] - h / 2, anchors[:, 0] + w / 2, anchors[:, 1] + h / 2], 1)


def binned_rotated_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
                       bins: int = ANGLE_BINS) -> torch.Tensor:
    """Indices kept (by decreasing score) by NMS within angle bins (see the module docstring)."""
    step = 180.0 / bins
    index = torch.remainder(torch.round(boxes[:, 4] / step), bins)
    phi = torch.deg2rad(index * step)
    delta = torch.deg2rad(wrap_degrees(boxes[:, 4] - index * step)).abs()
    cos, sin = torch.cos(phi), torch.sin(phi)
    x = boxes[:, 0] * cos + boxes[:, 1] * sin  # centre in the bin's frame
    y = -boxes[:, 0] * sin + boxes[:, 1] * cos
    half_w = (boxes[:, 2] * torch.cos(delta) + boxes[:, 3] * torch.sin(delta)) / 2
    half_h = (boxes[:, 2] * torch.sin(delta) + boxes[:, 3] * torch.cos(delta)) / 2
    frame_boxes = torch.stack([x - half_w, y - half_h, x + half_w, y + half_h], dim=1)
    return batched_nms(frame_boxes, scores, index.long(), iou_threshold)


class RotatedRPNHead(nn.Module):
    def __init__(self, channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.cls = nn.Conv2d(channels, num_anchors, 1)
        self.reg = nn.Conv2d(channels, num_anchors * 5, 1)
        for layer in (self.conv, self.cls, self.reg):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(objectness [B, H*W*A], deltas [B, H*W*A, 5]) in level_anchors order."""
        t = F.relu(self.conv(feature))
        b, _, h, w = t.shape
        logits = self.cls(t).permute(0, 2, 3, 1).reshape(b, -1)
        deltas = self.reg(t).reshape(b, -1, 5, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, 5)
        return logits, deltas


class RotatedRPN(nn.Module):
    def __init__(self, channels: int, sizes: Sequence[int], ratios: Sequence[float], *, fg_iou: float,
                 bg_iou: float, batch_size_per_image: int, pre_nms_top_n: dict[str, int],
                 post_nms_top_n: dict[str, int], nms_thresh: float, level_names: Sequence[str]):
        super().__init__()
        self.sizes, self.ratios = list(sizes), list(ratios)
        self.level_names = list(level_names)
        self.head = RotatedRPNHead(channels, len(self.ratios))
        self.matcher = det_utils.Matcher(fg_iou, bg_iou, allow_low_quality_matches=True)
        self.sampler = det_utils.BalancedPositiveNegativeSampler(batch_size_per_image, 0.5)
        self.pre_nms_top_n, self.post_nms_top_n = pre_nms_top_n, post_nms_top_n
        self.nms_thresh = nms_thresh

    def _mode(self) -> str:
        return "training" if self.training else "testing"

    def forward(self, features: dict[str, torch.Tensor], image_sizes: list[tuple[int, int]],
                targets: list[dict[str, torch.Tensor]] | None = None
                ) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        logits, deltas, anchors, levels = [], [], [], []
        for index, (name, stride, size) in enumerate(zip(self.level_names, STRIDES, self.sizes)):
            feature = features[name]
            lg, dl = self.head(feature)
            logits.append(lg)
            deltas.append(dl)
            anchors.append(level_anchors(feature.shape[-2], feature.shape[-1], stride, size, self.ratios,
                                         feature.device))
            levels.append(torch.full((lg.shape[1],), index, device=feature.device))
        all_anchors = torch.cat(anchors)
        proposals = self._proposals(logits, deltas, anchors, image_sizes)
        losses: dict[str, torch.Tensor] = {}
        if self.training:
            if targets is None:
                raise ValueError("training needs targets")
            losses = self._losses(torch.cat(logits, 1), torch.cat(deltas, 1), all_anchors, targets)
        return proposals, losses

    @torch.no_grad()
    def _proposals(self, logits: list[torch.Tensor], deltas: list[torch.Tensor], anchors: list[torch.Tensor],
                   image_sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        pre, post = self.pre_nms_top_n[self._mode()], self.post_nms_top_n[self._mode()]
        out = []
        for b, (height, width) in enumerate(image_sizes):
            boxes, scores = [], []
            for lg, dl, an in zip(logits, deltas, anchors):
                k = min(pre, lg.shape[1])
                top, idx = lg[b].detach().float().topk(k)
                boxes.append(decode(an[idx], dl[b, idx].detach().float(), RPN_WEIGHTS))
                scores.append(top)
            boxes, scores = torch.cat(boxes), torch.cat(scores)
            inside = (boxes[:, 0] >= 0) & (boxes[:, 0] <= width) & (boxes[:, 1] >= 0) & (boxes[:, 1] <= height)
            ok = inside & (boxes[:, 2] >= MIN_SIZE) & (boxes[:, 3] >= MIN_SIZE) & torch.isfinite(boxes).all(1)
            boxes, scores = boxes[ok], scores[ok]
            keep = binned_rotated_nms(boxes, scores, self.nms_thresh)[:post]
            out.append(boxes[keep])
        return out

    def _losses(self, logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
                targets: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        labels, reg_targets = [], []
        anchor_xyxy = upright_xyxy(anchors)
        for target in targets:
            gt_rboxes = target["rboxes"].to(anchors)
            if len(gt_rboxes) == 0:
                labels.append(torch.zeros(len(anchors), device=anchors.device))
                reg_targets.append(torch.zeros_like(anchors))
                continue
            gt_xyxy = target["boxes"].to(anchors) if "boxes" in target else boxes_to_xyxy(gt_rboxes)
            matched = self.matcher(box_iou(gt_xyxy, anchor_xyxy))
            label = (matched >= 0).float()
            label[matched == self.matcher.BETWEEN_THRESHOLDS] = -1.0
            labels.append(label)
            reg_targets.append(encode(anchors, gt_rboxes[matched.clamp(min=0)], RPN_WEIGHTS))
        pos, neg = self.sampler(labels)
        pos_idx = torch.where(torch.cat(pos))[0]
        sampled = torch.where(torch.cat(pos) | torch.cat(neg))[0]
        flat_labels = torch.cat(labels)
        flat_logits = logits.reshape(-1)
        flat_deltas = deltas.reshape(-1, 5)
        flat_targets = torch.cat(reg_targets)
        box_loss = F.smooth_l1_loss(flat_deltas[pos_idx], flat_targets[pos_idx], beta=1 / 9, reduction="sum")
        denom = max(1, sampled.numel())
        objectness = F.binary_cross_entropy_with_logits(flat_logits[sampled], flat_labels[sampled])
        return {"loss_objectness": objectness, "loss_rpn_box_reg": box_loss / denom}


__all__ = ["RotatedRPN", "RotatedRPNHead", "STRIDES", "binned_rotated_nms", "level_anchors", "upright_xyxy"]
