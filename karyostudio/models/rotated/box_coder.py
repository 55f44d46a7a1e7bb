"""Rotated-box regression targets: deltas between anchors (or proposals) and boxes.

Encoding follows Eq. (1) of the Enhanced Rotated Mask R-CNN paper (the rotated Faster/Mask
R-CNN parameterisation), with the angle difference wrapped periodically::

    dx = (gx - ax) / aw        dy = (gy - ay) / ah
    dw = ln(gw / aw)           dh = ln(gh / ah)
    da = pi / 180 * wrap(g_theta - a_theta),   wrap(t) = ((t + 90) mod 180) - 90  in [-90, 90)

The paper's angles lie in [-90, 0) counter-clockwise; here both boxes use the convention of
karyostudio.geometry.rotated, and only their difference enters the deltas.
A rectangle is unchanged by a 180-degree turn, so the wrap picks the shortest rotation and a
box near 179 degrees is a small step from an anchor near 1 degree. With ``box_frame=True`` the
centre offset is instead measured along the anchor's own w and h axes (the mmrotate
``DeltaXYWHAOBBoxCoder`` form), which makes targets rotation-equivariant. ``weights`` scale the
deltas as in torchvision's ``BoxCoder`` (targets are multiplied, predictions divided).
Both boxes are expected in canonical form (h >= w); decode returns canonical boxes.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from karyostudio.models.rotated.boxes import check_boxes, normalize_boxes

# Largest log-scale step accepted when decoding (torchvision's bound): stops exp() overflow.
SCALE_CLAMP = math.log(1000.0 / 16)
DEFAULT_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0)


def wrap_degrees(delta: torch.Tensor) -> torch.Tensor:
    """Angle differences in degrees wrapped to the rectangle period: [-90, 90)."""
    return torch.remainder(delta + 90.0, 180.0) - 90.0


def _weights(weights: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    if len(weights) != 5:
        raise ValueError(f"weights need 5 values (x, y, w, h, theta), got {len(weights)}")
    return torch.as_tensor(weights, dtype=like.dtype, device=like.device)


def encode(anchors: torch.Tensor, gt: torch.Tensor, weights: Sequence[float] = DEFAULT_WEIGHTS,
           box_frame: bool = False) -> torch.Tensor:
    """Deltas [..., 5] = (dx, dy, dw, dh, d_theta_rad) that move anchors onto gt (same shape)."""
    check_boxes(anchors, "anchors")
    check_boxes(gt, "gt")
    if anchors.shape != gt.shape:
        raise ValueError(f"anchors and gt must be aligned, got {tuple(anchors.shape)} and {tuple(gt.shape)}")
    ax, ay, aw, ah, at = anchors.unbind(-1)
    gx, gy, gw, gh, gt_theta = gt.unbind(-1)
    ox, oy = gx - ax, gy - ay
    if box_frame:
        t = torch.deg2rad(at)
        ox, oy = ox * torch.cos(t) + oy * torch.sin(t), -ox * torch.sin(t) + oy * torch.cos(t)
    deltas = torch.stack([ox / aw, oy / ah, torch.log(gw / aw), torch.log(gh / ah),
                          torch.deg2rad(wrap_degrees(gt_theta - at))], dim=-1)
    return deltas * _weights(weights, deltas)


def decode(anchors: torch.Tensor, deltas: torch.Tensor, weights: Sequence[float] = DEFAULT_WEIGHTS,
           box_frame: bool = False, normalize: bool = True) -> torch.Tensor:
    """Boxes [..., 5] from anchors and deltas (the inverse of :func:`encode`). Differentiable."""
    check_boxes(anchors, "anchors")
    check_boxes(deltas, "deltas")
    d = deltas / _weights(weights, deltas)
    ax, ay, aw, ah, at = anchors.unbind(-1)
    dx, dy, dw, dh, da = d.unbind(-1)
    ox, oy = dx * aw, dy * ah
    if box_frame:
        t = torch.deg2rad(at)
        ox, oy = ox * torch.cos(t) - oy * torch.sin(t), ox * torch.sin(t) + oy * torch.cos(t)
    boxes = torch.stack([ax + ox, ay + oy, aw * torch.exp(dw.clamp(max=SCALE_CLAMP)),
                         ah * torch.exp(dh.clamp(max=SCALE_CLAMP)), at + torch.rad2deg(da)], dim=-1)
    return normalize_boxes(boxes) if normalize else boxes
