"""Rotated boxes as 2-D Gaussians and the Kullback-Leibler distance between them.

A box (cx, cy, w, h, theta) becomes N(mu, Sigma) with mu = (cx, cy) and
Sigma = R diag(w^2 / 4, h^2 / 4) R^T, R = [[cos t, -sin t], [sin t, cos t]] (the columns are
the w and h directions of the box). This representation has no angle or w/h-swap ambiguity,
which is why it is a good regression target for rotated boxes (Yang et al., KLD loss).

kld(p, t) = KL(N_p || N_t) = 1/2 [ (mu_p - mu_t)^T Sigma_t^-1 (mu_p - mu_t) + tr(Sigma_t^-1 Sigma_p)
                                    + ln(|Sigma_t| / |Sigma_p|) - 2 ]

and the regression loss of DeepCHM Eq. (12) (per box, before the hardness weight omega_j):

    kld_loss(p, t) = 1 - 1 / (tau + ln(1 + kld(p, t))),   tau = 1 by default.
"""

from __future__ import annotations

import torch

from karyostudio.models.rotated.boxes import check_boxes

# Sides are floored at this many pixels so zero-width boxes give a large but finite distance.
MIN_SIDE = 1e-3


def gaussian_params(boxes: torch.Tensor, min_side: float = MIN_SIDE) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu [..., 2], sigma [..., 2, 2]) of the Gaussians of rotated boxes [..., 5]."""
    check_boxes(boxes)
    t = torch.deg2rad(boxes[..., 4])
    cos, sin = torch.cos(t), torch.sin(t)
    a = (boxes[..., 2].clamp(min=min_side) / 2) ** 2  # variance along the w side
    b = (boxes[..., 3].clamp(min=min_side) / 2) ** 2  # variance along the h side
    sxx = a * cos**2 + b * sin**2
    syy = a * sin**2 + b * cos**2
    sxy = (a - b) * cos * sin
    sigma = torch.stack([torch.stack([sxx, sxy], dim=-1), torch.stack([sxy, syy], dim=-1)], dim=-2)
    return boxes[..., 0:2], sigma


def kld(pred: torch.Tensor, target: torch.Tensor, min_side: float = MIN_SIDE) -> torch.Tensor:
    """KL(N_pred || N_target) [...] for aligned box tensors [..., 5]. Zero iff the boxes coincide."""
    check_boxes(pred, "pred")
    check_boxes(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must be aligned, got {tuple(pred.shape)} and {tuple(target.shape)}")
    mu_p, sp = gaussian_params(pred, min_side)
    mu_t, st = gaussian_params(target, min_side)
    # Closed-form 2x2 determinants and inverse: cheaper and steadier than linalg for tiny matrices.
    det_p = (pred[..., 2].clamp(min=min_side) * pred[..., 3].clamp(min=min_side) / 4) ** 2
    det_t = (target[..., 2].clamp(min=min_side) * target[..., 3].clamp(min=min_side) / 4) ** 2
    inv_t = torch.stack([torch.stack([st[..., 1, 1], -st[..., 0, 1]], dim=-1),
                         torch.stack([-st[..., 1, 0], st[..., 0, 0]], dim=-1)], dim=-2) / det_t[..., None, None]
    d = (mu_p - mu_t)[..., None]
    mahalanobis = (d.transpose(-1, -2) @ inv_t @ d)[..., 0, 0]
    trace = (inv_t * sp.transpose(-1, -2)).sum(dim=(-1, -2))
    value = 0.5 * (mahalanobis + trace + torch.log(det_t / det_p) - 2.0)
    return value.clamp(min=0.0)  # rounding can dip a hair below zero for identical boxes


def kld_loss(pred: torch.Tensor, target: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """Per-box KLD regression loss of DeepCHM Eq. (12): 1 - 1 / (tau + ln(1 + KLD)), in [0, 1)."""
    if tau < 1.0:
        raise ValueError(f"tau must be >= 1 (the loss would be negative or undefined), got {tau}")
    return 1.0 - 1.0 / (tau + torch.log1p(kld(pred, target)))
