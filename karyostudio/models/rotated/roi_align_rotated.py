"""Rotated RoIAlign in pure torch: bilinear sampling on a rotated grid (affine_grid + grid_sample).

A RoI is ``(cx, cy, w, h, theta_deg)`` in image pixels (convention of
:mod:`karyostudio.geometry.rotated`: the w side runs along (cos t, sin t), the h side along
(-sin t, cos t), theta clockwise on screen). Its output is ``(out_h, out_w)`` bins: columns run
along the w side, rows along the h side, so a chromosome's long axis (h) is always the rows.
Each bin averages ``sampling_ratio`` x ``sampling_ratio`` bilinear samples at the bin's
sub-centres, exactly as ``torchvision.ops.roi_align(aligned=True)``; for theta = 0 the two agree
(interior RoIs; at the border torchvision clamps where this module reads zeros).

All RoIs of one image go through a single ``grid_sample`` call (their grids are stacked along
the output height), so the cost is one kernel launch per image and level. Gradients flow to the
features (and to the RoI parameters, through the grid).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from karyostudio.models.rotated.geometry import check_boxes


def rotated_sample_points(rois: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """Image-pixel (x, y) of every bin centre: [K, out_h, out_w, 2] for rois [K, 5]."""
    check_boxes(rois, "rois")
    dtype, device = rois.dtype, rois.device
    cx, cy, w, h, theta = rois.unbind(-1)
    # Box-frame coordinates of the bin centres, in fractions of the side: (k + 0.5) / n - 0.5.
    fu = (torch.arange(out_w, dtype=dtype, device=device) + 0.5) / out_w - 0.5
    fv = (torch.arange(out_h, dtype=dtype, device=device) + 0.5) / out_h - 0.5
    u = fu[None, None, :] * w[:, None, None]  # along the w side
    v = fv[None, :, None] * h[:, None, None]  # along the h side
    t = torch.deg2rad(theta)[:, None, None]
    cos, sin = torch.cos(t), torch.sin(t)
    x = cx[:, None, None] + u * cos - v * sin
    y = cy[:, None, None] + u * sin + v * cos
    return torch.stack([x, y], dim=-1)


def roi_align_rotated(features: torch.Tensor, rois: torch.Tensor, output_size: int | Sequence[int],
                      spatial_scale: float = 1.0, sampling_ratio: int = 2) -> torch.Tensor:
    """Pooled features [K, C, out_h, out_w] for rois [K, 6] = (batch index, cx, cy, w, h, theta_deg).

    ``spatial_scale`` maps image pixels to feature pixels (1 / stride). Samples outside the
    feature map read zeros.
    """
    if features.ndim != 4:
        raise ValueError(f"features must be [B, C, H, W], got {tuple(features.shape)}")
    if rois.ndim != 2 or rois.shape[1] != 6:
        raise ValueError(f"rois must be [K, 6] (batch index, cx, cy, w, h, theta), got {tuple(rois.shape)}")
    if sampling_ratio < 1:
        raise ValueError(f"sampling_ratio must be at least 1, got {sampling_ratio}")
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    k, channels = rois.shape[0], features.shape[1]
    out = features.new_zeros((k, channels, out_h, out_w))
    if k == 0:
        return out
    s = sampling_ratio
    height, width = features.shape[-2:]
    points = rotated_sample_points(rois[:, 1:].to(features.dtype), out_h * s, out_w * s) * spatial_scale
    # grid_sample (align_corners=False): -1 and +1 are the outer edges of the first and last pixel.
    grid = torch.stack([points[..., 0] * (2.0 / width) - 1.0, points[..., 1] * (2.0 / height) - 1.0], dim=-1)
    batch_index = rois[:, 0].long()
    for b in torch.unique(batch_index).tolist():
        sel = torch.nonzero(batch_index == b).flatten()
        stacked = grid[sel].reshape(1, len(sel) * out_h * s, out_w * s, 2)
        sampled = F.grid_sample(features[b:b + 1], stacked, mode="bilinear", padding_mode="zeros",
                                align_corners=False)  # 1 x C x (n * H') x W'
        sampled = sampled.reshape(channels, len(sel), out_h * s, out_w * s).transpose(0, 1)
        out[sel] = F.avg_pool2d(sampled, kernel_size=s, stride=s) if s > 1 else sampled
    return out


class MultiScaleRotatedRoIAlign(nn.Module):
    """Rotated RoIAlign over FPN levels; each RoI reads the level its size selects.

    Level choice follows FPN (Lin et al. 2017, Eq. 1, as torchvision's LevelMapper):
    k = floor(k0 + log2(sqrt(w h) / 224)), clamped to the available levels, with k0 = 4.
    """

    def __init__(self, level_names: Sequence[str], strides: Sequence[int], output_size: int,
                 sampling_ratio: int = 2, canonical_size: float = 224.0, canonical_level: int = 4):
        super().__init__()
        if len(level_names) != len(strides):
            raise ValueError("one stride per level name is needed")
        self.level_names = list(level_names)
        self.strides = [int(s) for s in strides]
        self.output_size = int(output_size)
        self.sampling_ratio = int(sampling_ratio)
        self.canonical_size = canonical_size
        self.canonical_level = canonical_level

    def levels_for(self, boxes: torch.Tensor) -> torch.Tensor:
        """Index into ``level_names`` for each box [K, 5]."""
        k_min = int(round(math.log2(self.strides[0])))
        k_max = int(round(math.log2(self.strides[-1])))
        size = torch.sqrt((boxes[:, 2] * boxes[:, 3]).clamp(min=1e-6))
        k = torch.floor(self.canonical_level + torch.log2(size / self.canonical_size) + 1e-6)
        return (k.clamp(k_min, k_max) - k_min).long()

    def forward(self, features: dict[str, torch.Tensor], boxes: Sequence[torch.Tensor]) -> torch.Tensor:
        """Pooled [sum K_i, C, S, S] for per-image boxes [K_i, 5] (image pixels), in input order."""
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)], dim=0)
        first = features[self.level_names[0]]
        out = first.new_zeros((rois.shape[0], first.shape[1], self.output_size, self.output_size))
        if rois.shape[0] == 0:
            return out
        levels = self.levels_for(rois[:, 1:].detach())
        for index, (name, stride) in enumerate(zip(self.level_names, self.strides)):
            sel = torch.nonzero(levels == index).flatten()
            if len(sel):
                out[sel] = roi_align_rotated(features[name], rois[sel], self.output_size, 1.0 / stride,
                                             self.sampling_ratio)
        return out
