"""RoI heads of Enhanced Rotated Mask R-CNN: class, rotated box, axis-aligned box and mask.

Every rotated proposal is pooled with rotated RoIAlign (7 x 7 for the box head, 14 x 14 for the
mask head, both in the proposal's own frame). The box head predicts the class (background +
24), rotated-box deltas (Eq. 1, class-agnostic) and, with ``horizontal``, axis-aligned box
deltas relative to the proposal's axis-aligned extent ("H&R"). The mask head predicts an
m x m mask (one for all classes, or one per class) in the frame of the box it is given.

Training (Mask R-CNN's recipe with skew-IoU): proposals plus ground-truth boxes are matched to
chromosomes by exact rotated IoU (>= 0.5 foreground), sampled 1:3, and the mask head learns on
foreground proposals (in their rotated frame and, with ``horizontal``, also in their upright
extent, the frame H detections are masked in). Images without masks train no mask loss.

Inference: rotated detections (per-class skew-NMS) and axis-aligned detections (per-class NMS)
are both masked and pasted, then merged by class-agnostic mask-level NMS (paper, Sec. III).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.faster_rcnn import TwoMLPHead
from torchvision.ops import batched_nms

from karyostudio.models.maskrcnn.backbones import group_norm
from karyostudio.models.ermrcnn.masks import mask_nms, mask_targets, paste_window
from karyostudio.models.rotated.geometry import (
    batched_skew_nms,
    boxes_to_xyxy,
    decode,
    encode,
    normalize_boxes,
    rotated_iou,
)
from karyostudio.models.rotated.roi_align_rotated import MultiScaleRotatedRoIAlign

ROI_LEVELS = ("0", "1", "2", "3")
ROI_STRIDES = (4, 8, 16, 32)
BOX_POOL = 7
RBOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0, 5.0)
HBOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
PRE_NMS_CANDIDATES = 1000


def xyxy_to_rotated(xyxy: torch.Tensor) -> torch.Tensor:
    """Axis-aligned boxes as canonical rotated boxes (theta 0 or 90)."""
    x0, y0, x1, y1 = xyxy.unbind(-1)
    return normalize_boxes(torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, torch.zeros_like(x0)], -1))


class BoxPredictor(nn.Module):
    def __init__(self, representation: int, num_classes: int, horizontal: bool):
        super().__init__()
        self.cls = nn.Linear(representation, num_classes)
        self.rbox = nn.Linear(representation, 5)
        self.hbox = nn.Linear(representation, 4) if horizontal else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        return self.cls(x), self.rbox(x), self.hbox(x) if self.hbox is not None else None


class MaskHead(nn.Module):
    """Four 3 x 3 convolutions, a 2x transposed convolution and per-class 1 x 1 logits."""

    def __init__(self, in_channels: int, channels: int, num_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        for k in range(4):
            layers += [nn.Conv2d(in_channels if k == 0 else channels, channels, 3, padding=1, bias=False),
                       group_norm(channels), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.up = nn.ConvTranspose2d(channels, channels, 2, stride=2)
        self.logits = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(F.relu(self.up(self.body(x))))


class RotatedRoIHeads(nn.Module):
    def __init__(self, channels: int, num_classes: int, *, representation: int, mask_channels: int,
                 mask_size: int, horizontal: bool, class_agnostic_masks: bool, batch_size_per_image: int,
                 positive_fraction: float,
                 mask_batch_size: int, score_thresh: float, nms_thresh: float, mask_nms_thresh: float,
                 detections_per_img: int):
        super().__init__()
        self.num_classes, self.horizontal, self.mask_size = num_classes, horizontal, mask_size
        self.box_pool = MultiScaleRotatedRoIAlign(ROI_LEVELS, ROI_STRIDES, BOX_POOL)
        self.mask_pool = MultiScaleRotatedRoIAlign(ROI_LEVELS, ROI_STRIDES, mask_size // 2)
        self.box_head = TwoMLPHead(channels * BOX_POOL ** 2, representation)
        self.box_predictor = BoxPredictor(representation, num_classes, horizontal)
        self.class_agnostic_masks = class_agnostic_masks
        # Masks in rotated and in upright frames look different (a chromosome fills most of its
        # rotated box but little of a diagonal one's upright box), so each frame kind has its own
        # output channels (same features).
        self.mask_classes = 1 if class_agnostic_masks else num_classes
        self.mask_head = MaskHead(channels, mask_channels, self.mask_classes * (2 if horizontal else 1))
        self.matcher = det_utils.Matcher(0.5, 0.5, allow_low_quality_matches=False)
        self.sampler = det_utils.BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)
        self.hbox_coder = det_utils.BoxCoder(HBOX_WEIGHTS)
        self.mask_batch_size = mask_batch_size
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.mask_nms_thresh, self.detections_per_img = mask_nms_thresh, detections_per_img

    def forward(self, features: dict[str, torch.Tensor], proposals: list[torch.Tensor],
                image_sizes: list[tuple[int, int]], targets: list[dict[str, torch.Tensor]] | None = None):
        if self.training:
            if targets is None:
                raise ValueError("training needs targets")
            return [], self._losses(features, proposals, targets)
        return self._detect(features, proposals, image_sizes), {}

    # training

    def _sample(self, proposals: torch.Tensor, target: dict[str, torch.Tensor]):
        gt = target["rboxes"].to(proposals)
        proposals = torch.cat([proposals, gt])
        if len(gt) == 0:
            matched = torch.full((len(proposals),), -1, dtype=torch.long, device=proposals.device)
        else:
            matched = self.matcher(rotated_iou(gt, proposals))
        labels = torch.zeros(len(proposals), dtype=torch.long, device=proposals.device)
        fg = matched >= 0
        labels[fg] = target["labels"].to(proposals.device)[matched[fg]]
        labels[matched == self.matcher.BETWEEN_THRESHOLDS] = -1
        pos, neg = self.sampler([labels.clamp(max=1)])
        keep = torch.where(pos[0] | neg[0])[0]
        return proposals[keep], labels[keep].clamp(min=0), matched[keep]

    def _losses(self, features, proposals, targets) -> dict[str, torch.Tensor]:
        sampled = [self._sample(p.detach(), t) for p, t in zip(proposals, targets)]
        boxes = [s[0] for s in sampled]
        labels = torch.cat([s[1] for s in sampled])
        cls_logits, rdeltas, hdeltas = self.box_predictor(self.box_head(self.box_pool(features, boxes)))
        losses = {"loss_classifier": F.cross_entropy(cls_logits, labels)}
        pos = torch.where(labels > 0)[0]
        denom = max(1, labels.numel())
        gt_r = torch.cat([t["rboxes"].to(b)[m.clamp(min=0)] for (b, _, m), t in zip(sampled, targets)])
        all_boxes = torch.cat(boxes)
        r_targets = encode(all_boxes[pos], gt_r[pos], RBOX_WEIGHTS)
        losses["loss_rbox_reg"] = F.smooth_l1_loss(rdeltas[pos], r_targets, beta=1 / 9, reduction="sum") / denom
        if hdeltas is not None:
            gt_h = torch.cat([_gt_xyxy(t).to(b)[m.clamp(min=0)] for (b, _, m), t in zip(sampled, targets)])
            h_targets = self.hbox_coder.encode_single(gt_h[pos], boxes_to_xyxy(all_boxes[pos]))
            losses["loss_hbox_reg"] = F.smooth_l1_loss(hdeltas[pos], h_targets, beta=1 / 9, reduction="sum") / denom
        mask_loss = self._mask_loss(features, sampled, targets)
        if mask_loss is not None:
            losses["loss_mask"] = mask_loss
        return losses

    def _mask_loss(self, features, sampled, targets) -> torch.Tensor | None:
        gt_index, classes, kinds, image_of = [], [], [], []
        per_image_boxes: list[torch.Tensor] = []
        for i, ((boxes, labels, matched), target) in enumerate(zip(sampled, targets)):
            pos = torch.where(labels > 0)[0][:self.mask_batch_size]
            if "masks" not in target or len(pos) == 0:
                per_image_boxes.append(boxes[:0])
                continue
            frame = boxes[pos]
            kind = torch.zeros_like(pos)
            if self.horizontal:  # the upright extent: the frame axis-aligned detections are masked in
                frame = torch.cat([frame, xyxy_to_rotated(boxes_to_xyxy(frame))])
                kind = torch.cat([kind, torch.ones_like(pos)])
                pos = torch.cat([pos, pos])
            per_image_boxes.append(frame)
            gt_index.append(matched[pos])
            classes.append(labels[pos])
            kinds.append(kind)
            image_of.append(i)
        if not image_of:
            return None
        logits = self.mask_head(self.mask_pool(features, per_image_boxes))
        mask_targets_all = torch.cat([
            mask_targets(targets[i]["masks"].to(logits.device), gt, per_image_boxes[i], self.mask_size)
            for i, gt in zip(image_of, gt_index)])
        channel = self._mask_channel(torch.cat(classes), torch.cat(kinds))
        picked = logits[torch.arange(len(channel), device=logits.device), channel]
        return F.binary_cross_entropy_with_logits(picked, mask_targets_all)

    def _mask_channel(self, labels: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        """Mask output channel of each RoI: its frame kind (0 rotated, 1 upright) and class."""
        cls = torch.zeros_like(labels) if self.class_agnostic_masks else labels
        return kinds * self.mask_classes + cls

    # inference

    @torch.no_grad()
    def _detect(self, features, proposals, image_sizes) -> list[dict[str, torch.Tensor]]:
        cls_logits, rdeltas, hdeltas = self.box_predictor(self.box_head(self.box_pool(features, proposals)))
        scores_all = F.softmax(cls_logits.float(), -1)
        counts = [len(p) for p in proposals]
        out = []
        for i, (props, scores, rd, size) in enumerate(zip(proposals, scores_all.split(counts),
                                                          rdeltas.float().split(counts), image_sizes)):
            rboxes = decode(props, rd, RBOX_WEIGHTS)
            dets = [self._candidates(rboxes, scores, rotated=True)]
            if hdeltas is not None:
                hd = hdeltas.float().split(counts)[i]
                xyxy = self.hbox_coder.decode_single(hd, boxes_to_xyxy(props))
                xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, size[1])
                xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, size[0])
                dets.append(self._candidates(xyxy, scores, rotated=False))
            boxes = torch.cat([d[0] for d in dets])
            rotated = torch.cat([torch.full((len(d[0]),), k == 0, dtype=torch.bool, device=boxes.device)
                                 for k, d in enumerate(dets)])
            out.append(self._merge(features, i, boxes, torch.cat([d[1] for d in dets]),
                                   torch.cat([d[2] for d in dets]), rotated, size))
        return out

    def _candidates(self, boxes: torch.Tensor, scores: torch.Tensor, rotated: bool):
        """(rotated boxes, scores, labels) after per-class NMS, at most detections_per_img."""
        n, c = scores.shape
        cls_scores = scores[:, 1:].reshape(-1)
        labels = torch.arange(1, c, device=scores.device).repeat(n)
        index = torch.arange(n, device=scores.device).repeat_interleave(c - 1)
        keep = torch.where(cls_scores > self.score_thresh)[0]
        keep = keep[cls_scores[keep].argsort(descending=True)[:PRE_NMS_CANDIDATES]]
        cand, s, lab = boxes[index[keep]], cls_scores[keep], labels[keep]
        if rotated:
            ok = (cand[:, 2] >= 1) & (cand[:, 3] >= 1)
            cand, s, lab = cand[ok], s[ok], lab[ok]
            kept = batched_skew_nms(cand, s, lab, self.nms_thresh)
        else:
            ok = (cand[:, 2] - cand[:, 0] >= 1) & (cand[:, 3] - cand[:, 1] >= 1)
            cand, s, lab = cand[ok], s[ok], lab[ok]
            kept = batched_nms(cand, s, lab, self.nms_thresh)
            cand = xyxy_to_rotated(cand)
        kept = kept[:self.detections_per_img]
        return cand[kept], s[kept], lab[kept]

    def _merge(self, features, image_index: int, boxes, scores, labels, rotated, size) -> dict[str, torch.Tensor]:
        single = {k: v[image_index:image_index + 1] for k, v in features.items()}
        probs = torch.sigmoid(self.mask_head(self.mask_pool(single, [boxes])).float())
        channel = self._mask_channel(labels, (~rotated).long())
        probs = probs[torch.arange(len(labels), device=probs.device), channel] if len(labels) else probs[:, 0]
        windows = [paste_window(p, b, size) for p, b in zip(probs, boxes)]
        windows = [None if w is None else (w[0], w[1], w[2] >= 0.5) for w in windows]
        kept = mask_nms(windows, scores, self.mask_nms_thresh)[:self.detections_per_img]
        kept_t = torch.as_tensor(kept, dtype=torch.long, device=boxes.device)
        return {"rboxes": boxes[kept_t], "scores": scores[kept_t], "labels": labels[kept_t], "masks": probs[kept_t],
                "rotated": rotated[kept_t]}


def _gt_xyxy(target: dict[str, torch.Tensor]) -> torch.Tensor:
    return target["boxes"] if "boxes" in target else boxes_to_xyxy(target["rboxes"])


__all__ = ["RotatedRoIHeads", "xyxy_to_rotated"]
