"""Enhanced Rotated Mask R-CNN (Wang et al.): rotated Mask R-CNN with H&R detection and endpoints.

    image -> ResNet + FPN -> [endpoint branch: heatmap; 5th-layer features added to the FPN maps]
          -> RPN (upright anchors regress rotated proposals, skew-NMS)
          -> rotated RoIAlign -> class (24 + background), rotated box, axis-aligned box
          -> mask head in each box's frame -> rotated and axis-aligned detections merged by
             mask-level NMS

Training loss (Eq. 2 and 4): L = L_cls + L_box + L_mask + L_RPN + L_endpoint, with L_box the
smooth-L1 of the rotated (and axis-aligned) box deltas. The model takes a list of 1 x H x W
float images in [0, 1] (already at the network's scale; the predictor resizes), pads them to a
multiple of 64 and returns a loss dict (training) or per-image raw detections (eval):
"rboxes" [N, 5] (cx, cy, w, h, theta_deg in the given image's pixels), "labels" (1..24),
"scores", "masks" [N, m, m] probabilities over each box's frame, "rotated" (True: a rotated
detection, False: an axis-aligned one), plus "endpoint_heatmap"
[H, W] when the branch exists.

Targets: "rboxes" [K, 5], "labels" [K] (1..24), optional "boxes" [K, 4] (axis-aligned, else the
rotated boxes' extents), optional "masks" [K, H, W] and "endpoints" [K, 2, 2]; endpoint targets
come from "endpoints", else the masks' skeletons, else the rotated boxes' long-axis ends.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from karyostudio.models.maskrcnn.backbones import LEVEL_NAMES, build_backbone
from karyostudio.models.ermrcnn.endpoints import EndpointBranch, endpoint_heatmap, endpoint_loss, mask_endpoints
from karyostudio.models.ermrcnn.heads import RotatedRoIHeads
from karyostudio.models.ermrcnn.rpn import RotatedRPN
from karyostudio.models.ermrcnn.spec import ERMRCNNSpec

SIZE_DIVISIBLE = 64  # the coarsest FPN level has stride 64


class EnhancedRotatedMaskRCNN(nn.Module):
    def __init__(self, spec: ERMRCNNSpec):
        super().__init__()
        self.spec = spec
        self.backbone = build_backbone(spec.backbone_spec())
        channels = spec.fpn_channels
        self.endpoints = EndpointBranch(channels, spec.endpoint_channels) if spec.endpoint_branch else None
        self.rpn = RotatedRPN(
            channels, spec.anchor_sizes, spec.anchor_ratios, fg_iou=spec.rpn_fg_iou, bg_iou=spec.rpn_bg_iou,
            batch_size_per_image=spec.rpn_batch_size_per_image,
            pre_nms_top_n={"training": spec.rpn_pre_nms_top_n_train, "testing": spec.rpn_pre_nms_top_n_test},
            post_nms_top_n={"training": spec.rpn_post_nms_top_n_train, "testing": spec.rpn_post_nms_top_n_test},
            nms_thresh=spec.rpn_nms_thresh, level_names=LEVEL_NAMES)
        self.roi_heads = RotatedRoIHeads(
            channels, spec.num_classes, representation=spec.box_representation,
            mask_channels=spec.mask_head_channels, mask_size=spec.mask_size, horizontal=spec.horizontal_branch,
            class_agnostic_masks=spec.class_agnostic_masks,
            batch_size_per_image=spec.box_batch_size_per_image, positive_fraction=spec.box_positive_fraction,
            mask_batch_size=spec.mask_batch_size_per_image, score_thresh=spec.box_score_thresh,
            nms_thresh=spec.box_nms_thresh, mask_nms_thresh=spec.mask_nms_thresh,
            detections_per_img=spec.detections_per_img)

    def batch(self, images: list[torch.Tensor]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Normalised images padded (bottom/right) into one [B, 1, H, W] tensor, and their sizes."""
        if not images:
            raise ValueError("no images given")
        for image in images:
            if image.ndim != 3 or image.shape[0] != 1:
                raise ValueError(f"images must be 1 x H x W tensors, got {tuple(image.shape)}")
        sizes = [(int(i.shape[-2]), int(i.shape[-1])) for i in images]
        # At least 2 x 2 pixels on the coarsest level: GroupNorm needs more than one value per group.
        height = max(math.ceil(max(h for h, _ in sizes) / SIZE_DIVISIBLE), 2) * SIZE_DIVISIBLE
        width = max(math.ceil(max(w for _, w in sizes) / SIZE_DIVISIBLE), 2) * SIZE_DIVISIBLE
        out = images[0].new_zeros((len(images), 1, height, width))
        for k, image in enumerate(images):
            out[k, :, :image.shape[-2], :image.shape[-1]] = (image - self.spec.image_mean) / self.spec.image_std
        return out, sizes

    def forward(self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None):
        if self.training and targets is None:
            raise ValueError("training needs targets")
        batch, sizes = self.batch(images)
        features = self.backbone(batch)
        losses: dict[str, torch.Tensor] = {}
        heat = None
        if self.endpoints is not None:
            features, heat = self.endpoints(features, tuple(batch.shape[-2:]))
            if self.training:
                target_maps = torch.stack([endpoint_heatmap(target_points(t), tuple(batch.shape[-2:]),
                                                            self.spec.endpoint_sigma) for t in targets])
                losses["loss_endpoint"] = self.spec.endpoint_loss_weight * endpoint_loss(
                    heat, target_maps[:, None].to(heat.device))
        proposals, rpn_losses = self.rpn(features, sizes, targets)
        detections, roi_losses = self.roi_heads(features, proposals, sizes, targets)
        if self.training:
            return {**losses, **rpn_losses, **roi_losses}
        if heat is not None:
            for det, (h, w), k in zip(detections, sizes, range(len(sizes))):
                det["endpoint_heatmap"] = torch.sigmoid(heat[k, 0, :h, :w])
        return detections


def target_points(target: dict[str, torch.Tensor]) -> np.ndarray:
    """Chromosome ends of one target (see the module docstring for where they come from)."""
    if "endpoints" in target:
        return target["endpoints"].detach().cpu().numpy().reshape(-1, 2)
    if "masks" in target:
        ends = [mask_endpoints(m) for m in target["masks"].detach().cpu().numpy()]
        return np.concatenate(ends, axis=0) if ends else np.zeros((0, 2))
    return rbox_ends(target["rboxes"].detach().cpu().numpy())


def rbox_ends(rboxes: np.ndarray) -> np.ndarray:
    """Ends of the long (h) axis of rotated boxes: [2K, 2]."""
    b = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    t = np.deg2rad(b[:, 4])
    half = np.stack([-np.sin(t), np.cos(t)], 1) * (b[:, 3:4] / 2)
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], 0)


def build_ermrcnn(spec: ERMRCNNSpec) -> EnhancedRotatedMaskRCNN:
    """A freshly initialised model (training mode)."""
    return EnhancedRotatedMaskRCNN(spec)


__all__ = ["EnhancedRotatedMaskRCNN", "build_ermrcnn", "rbox_ends", "target_points"]
