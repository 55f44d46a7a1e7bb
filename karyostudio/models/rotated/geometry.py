"""Rotated-box geometry in pure torch: the one import for rotated detectors.

Boxes are float tensors ``[..., 5] = (cx, cy, w, h, theta_deg)`` in the convention of
:mod:`karyostudio.geometry.rotated` (h >= w is the long axis, theta in [0, 180) clockwise on
screen). Everything is batched, runs on CPU and GPU and needs no compiled extension.

- :func:`box_corners`, :func:`normalize_boxes`, :func:`box_area`, :func:`boxes_to_xyxy`
- :func:`rotated_iou` (N x M), :func:`rotated_iou_pairwise` (aligned, differentiable): exact
  convex-polygon intersection; containment gives the true area ratio.
- :func:`skew_nms`, :func:`batched_skew_nms`: greedy NMS on exact skew-IoU.
- :func:`encode` / :func:`decode`: Enhanced Rotated Mask R-CNN Eq. (1) deltas, periodic angle.
- :func:`gaussian_params`, :func:`kld`, :func:`kld_loss`: Gaussian boxes, KL distance and the
  DeepCHM Eq. (12) loss transform 1 - 1 / (tau + ln(1 + KLD)).
"""

from __future__ import annotations

from karyostudio.models.rotated.box_coder import SCALE_CLAMP, decode, encode, wrap_degrees
from karyostudio.models.rotated.boxes import (
    box_area,
    box_corners,
    box_extents,
    boxes_to_xyxy,
    check_boxes,
    normalize_boxes,
)
from karyostudio.models.rotated.gaussian import gaussian_params, kld, kld_loss
from karyostudio.models.rotated.nms import batched_skew_nms, skew_nms
from karyostudio.models.rotated.skew_iou import quad_intersection_area, rotated_iou, rotated_iou_pairwise, separated

__all__ = [
    "SCALE_CLAMP", "batched_skew_nms", "box_area", "box_corners", "box_extents", "boxes_to_xyxy",
    "check_boxes", "decode", "encode", "gaussian_params", "kld", "kld_loss", "normalize_boxes",
    "quad_intersection_area", "rotated_iou", "rotated_iou_pairwise", "separated", "skew_nms", "wrap_degrees",
]
