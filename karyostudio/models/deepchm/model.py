"""DeepCHM: one-stage rotated-anchor chromosome detector with morphological priors.

``DeepCHM(spec)`` wraps the network (deepchm_net) with what the paper builds around it:
  - ``losses(outputs, targets)``: skeleton-guided anchors from the ground-truth skeleton map,
    skew-IoU assignment, hardness weights, negative sampling and the multitask loss (Eq. 13);
  - ``detect(outputs)``: the anchor decoder (Sec. III.E): anchors on the predicted skeleton,
    scores >= T_score, box decoding, skew-NMS at T_nms (0.2).
Each of the four ablation switches of the spec (use_pminf, use_sgach, use_hdlos, use_dasmp)
changes exactly the part the paper's baseline leaves out (Sec. IV.C).

Targets (one dict per image, input-pixel coordinates, from training/deepchm_targets.py):
  "rboxes" [N, 5] float, "saliency" [3, h, w] Gaussian maps at 1/feature_stride,
  "crossing" [N] (1 for cross-overlapped chromosomes), "bend" [N] (v of Eq. 9, input pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from karyostudio.models.deepchm.anchors import anchor_locations, anchors_at, base_anchor_shapes, gather_at
from karyostudio.models.deepchm.assign import assign_anchors
from karyostudio.models.deepchm.loss import (
    anchor_focal_loss,
    aspect_ratio,
    hardness_weights,
    kld_regression_loss,
    saliency_focal_loss,
)
from karyostudio.models.deepchm.net import DeepCHMNet
from karyostudio.models.deepchm.sampling import sample_count, sample_negatives
from karyostudio.models.deepchm.spec import DeepCHMSpec
from karyostudio.models.rotated.geometry import decode, skew_nms

LOSS_NAMES = ("loss_saliency", "loss_cls", "loss_reg")


@dataclass
class Detections:
    boxes: torch.Tensor  # [K, 5] input pixels, canonical (h >= w)
    scores: torch.Tensor  # [K]


class DeepCHM(nn.Module):
    def __init__(self, spec: DeepCHMSpec):
        super().__init__()
        self.spec = spec
        self.net = DeepCHMNet(spec)
        self.register_buffer("anchor_shapes", base_anchor_shapes(spec), persistent=False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        stride = 32
        if images.ndim != 4 or images.shape[1] != 1 or images.shape[-1] % stride or images.shape[-2] % stride:
            raise ValueError(f"images must be [B, 1, H, W] with H, W multiples of {stride}, got {tuple(images.shape)}")
        return self.net(images)

    # --- anchors ----------------------------------------------------------------------------------

    def anchors_for(self, skeleton: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(locations [L], anchors [L * A, 5]) for one image's skeleton map [h, w]."""
        grid = tuple(skeleton.shape)
        locations = anchor_locations(skeleton, self.spec.t_loc, grid, self.spec.use_sgach)
        return locations, anchors_at(locations, grid[1], self.spec.feature_stride, self.anchor_shapes)

    # --- training ---------------------------------------------------------------------------------

    def total_loss(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """L_total = L_sei + lambda1 L_cls + lambda2 L_reg (Eq. 13)."""
        return (losses["loss_saliency"] + self.spec.lambda_cls * losses["loss_cls"]
                + self.spec.lambda_reg * losses["loss_reg"])

    def losses(self, outputs: dict[str, torch.Tensor], targets: list[dict[str, torch.Tensor]],
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Unweighted loss terms averaged over the batch, plus anchor counts (as tensors, no grad)."""
        spec = self.spec
        saliency_target = torch.stack([t["saliency"] for t in targets])
        # Normalised by the batch's peaks, so already a per-image scale.
        loss_sal = saliency_focal_loss(outputs["saliency"], saliency_target, spec.saliency_alpha,
                                       spec.saliency_beta)
        cls_terms, reg_terms, counts = [], [], torch.zeros(3)
        for b, target in enumerate(targets):
            cls_loss, reg_loss, n = self._image_losses(outputs["cls"][b], outputs["reg"][b], target, generator)
            cls_terms.append(cls_loss)
            reg_terms.append(reg_loss)
            counts += n
        return {"loss_saliency": loss_sal, "loss_cls": torch.stack(cls_terms).mean(),
                "loss_reg": torch.stack(reg_terms).mean(),
                "anchors": counts[0] / len(targets), "positives": counts[1] / len(targets),
                "negatives": counts[2] / len(targets)}

    def _image_losses(self, cls_map: torch.Tensor, reg_map: torch.Tensor, target: dict[str, torch.Tensor],
                      generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        spec = self.spec
        gt = target["rboxes"].to(reg_map.dtype)
        locations, anchors = self.anchors_for(target["saliency"][0])
        logits = gather_at(cls_map, locations, 1)
        deltas = gather_at(reg_map, locations, 5)
        assignment = assign_anchors(anchors, gt, spec.pos_iou, spec.neg_iou)
        pos = torch.nonzero(assignment.positive).reshape(-1)
        neg = torch.nonzero(assignment.negative).reshape(-1)
        zero = cls_map.sum() * 0.0  # keeps the graph (and DDP) happy when a term is empty

        neg_losses = anchor_focal_loss(logits[neg], torch.zeros_like(logits[neg]), spec.focal_gamma)
        k = sample_count(len(pos), len(neg), spec.neg_per_pos, spec.min_negatives)
        chosen = sample_negatives(neg_losses, k, adaptive=spec.use_dasmp, rho=spec.sample_rho, generator=generator)
        loss_neg = neg_losses[chosen].mean() if len(chosen) else zero

        if len(pos):
            g = assignment.gt_index[pos]
            if spec.use_hdlos:
                weights = hardness_weights(target["crossing"][g], target["bend"][g], aspect_ratio(gt[g]),
                                           assignment.overlap_degree[pos], lam=spec.hard_lambda,
                                           rho=spec.hard_rho).detach()
            else:
                weights = torch.ones(len(pos), device=gt.device, dtype=gt.dtype)
            pos_losses = anchor_focal_loss(logits[pos], torch.ones_like(logits[pos]), spec.focal_gamma)
            loss_pos = (weights * pos_losses).mean()
            predicted = decode(anchors[pos], deltas[pos], box_frame=True)
            loss_reg = kld_regression_loss(predicted, gt[g], weights, spec.kld_tau)
        else:
            loss_pos, loss_reg = zero, zero
        counts = torch.tensor([float(len(anchors)), float(len(pos)), float(len(chosen))])
        return loss_neg + loss_pos, loss_reg, counts

    # --- inference --------------------------------------------------------------------------------

    @torch.no_grad()
    def detect(self, outputs: dict[str, torch.Tensor], score_threshold: float | None = None) -> list[Detections]:
        """The anchor decoder, per image of the batch (boxes in input pixels)."""
        spec = self.spec
        threshold = spec.score_threshold if score_threshold is None else score_threshold
        results = []
        for b in range(outputs["cls"].shape[0]):
            skeleton = torch.sigmoid(outputs["saliency"][b, 0])
            locations, anchors = self.anchors_for(skeleton)
            scores = torch.sigmoid(gather_at(outputs["cls"][b], locations, 1))
            keep = torch.nonzero(scores >= threshold).reshape(-1)
            if len(keep) > spec.pre_nms_top_n:
                keep = keep[torch.topk(scores[keep], spec.pre_nms_top_n).indices]
            deltas = gather_at(outputs["reg"][b], locations, 5)[keep]
            boxes = decode(anchors[keep], deltas, box_frame=True) if len(keep) else anchors[:0]
            kept_scores = scores[keep]
            if len(boxes):
                survivors = skew_nms(boxes, kept_scores, spec.nms_threshold)[: spec.max_detections]
                boxes, kept_scores = boxes[survivors], kept_scores[survivors]
            results.append(Detections(boxes=boxes, scores=kept_scores))
        return results
