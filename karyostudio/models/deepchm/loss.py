"""DeepCHM's loss terms (Sec. III.A and III.C, Eqs. 1, 4-13).

  saliency_focal_loss   Eq. 1 in the form of Law et al. [31] whose alpha = 2, beta = 4 it uses:
                        -[(1-p)^a log p] at the Gaussian peaks (target 1) and
                        -[(1-y)^b p^a log(1-p)] elsewhere, summed and divided by the number of
                        peaks, per channel (skeleton, edge, intersection), channels added.
  anchor_focal_loss     FL(p, y) = -(1 - p_t)^gamma log p_t per anchor (Eq. 5's FL).
  hardness_weights      omega = lambda + f(I_itr + v r u), f(x) = 1 - exp(-rho x) (Eqs. 7, 8).
  bend_degree           v: mean distance of skeleton points to the box's long centre line (Eq. 9).
  aspect_ratio          r = max(w, h) / min(w, h) (Eq. 10).
  kld_regression_loss   omega [1 - 1 / (tau + ln(D + 1))] with D the Gaussian KL divergence (Eq. 12).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from karyostudio.models.rotated.geometry import kld_loss

_EPS = 1e-6


def saliency_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0,
                        beta: float = 4.0) -> torch.Tensor:
    """Eq. 1 for logits and Gaussian targets of shape [B, C, h, w]; summed over channels."""
    if logits.shape != target.shape:
        raise ValueError(f"saliency logits {tuple(logits.shape)} and targets {tuple(target.shape)} differ")
    p = torch.sigmoid(logits).clamp(_EPS, 1 - _EPS)
    peak = target >= 1.0 - 1e-6
    pos = -((1 - p) ** alpha) * torch.log(p)
    neg = -((1 - target) ** beta) * (p ** alpha) * torch.log(1 - p)
    per_pixel = torch.where(peak, pos, neg)
    dims = (0, 2, 3)
    peaks = peak.float().sum(dim=dims).clamp_min(1.0)
    return (per_pixel.sum(dim=dims) / peaks).sum()


def anchor_focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Per-anchor focal loss (no reduction) of objectness logits against 0/1 labels."""
    ce = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    p_t = torch.exp(-ce)
    return (1 - p_t) ** gamma * ce


def hardness_function(x: torch.Tensor, rho: float) -> torch.Tensor:
    """f(x) = 1 - 1 / e^(rho x) (Eq. 8)."""
    return 1.0 - torch.exp(-rho * x)


def hardness_weights(crossing: torch.Tensor, bend: torch.Tensor, ratio: torch.Tensor, overlap: torch.Tensor,
                     *, lam: float = 1.0, rho: float = 1.0) -> torch.Tensor:
    """omega_j = lambda + f(I_itr_j + v_j r_j u_j) (Eq. 7), elementwise over positive anchors."""
    return lam + hardness_function(crossing.float() + bend * ratio * overlap, rho)


def aspect_ratio(boxes: torch.Tensor) -> torch.Tensor:
    """r = max(w, h) / min(w, h) of boxes [N, 5] (Eq. 10)."""
    sides = boxes[:, 2:4]
    return sides.amax(dim=1) / sides.amin(dim=1).clamp_min(_EPS)


def bend_degree(skeleton_xy: np.ndarray, box: np.ndarray) -> float:
    """v (Eq. 9): mean distance of skeleton points [K, 2] to the long centre line of ``box``.

    The centre line passes through the box centre along its h side, (-sin theta, cos theta);
    the distance is measured along the w direction, which also works for vertical lines where
    the slope form y = kx + b of Eq. 9 has no k.
    """
    points = np.asarray(skeleton_xy, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return 0.0
    cx, cy, w, h, theta = (float(v) for v in box)
    t = math.radians(theta)
    across = (math.cos(t), math.sin(t)) if h >= w else (-math.sin(t), math.cos(t))
    offsets = (points[:, 0] - cx) * across[0] + (points[:, 1] - cy) * across[1]
    return float(np.abs(offsets).mean())


def kld_regression_loss(pred_boxes: torch.Tensor, gt_boxes: torch.Tensor, weights: torch.Tensor,
                        tau: float = 1.0) -> torch.Tensor:
    """Mean over positives of omega [1 - 1 / (tau + ln(D + 1))] (Eq. 12); 0 without positives."""
    if len(pred_boxes) == 0:
        return pred_boxes.sum() * 0.0
    return (weights * kld_loss(pred_boxes, gt_boxes, tau)).mean()
