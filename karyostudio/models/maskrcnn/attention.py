"""Attention FPN: CBAM channel + spatial attention on every pyramid level, after the FPN outputs.

Design: CBAM (Woo et al., ECCV 2018) in its original order, channel attention (average- and
max-pooled descriptors through a shared bottleneck MLP) then spatial attention (a 7x7 conv over
the channel-wise mean and max), one module per level (levels see objects of different sizes
and keep their own weights), applied residually: out = F + CBAM(F).

Why there: after the FPN every level already mixes semantics from above with detail from
below, and the RPN, box and mask heads all read these maps, so one refinement serves all three.
Channel attention lets the network weigh band/edge channels against background and debris
responses; spatial attention concentrates on chromosome pixels in crowded spreads, the case
where plain Mask R-CNN fails (AutoKary2022, Fig. 6). Why residual: the models train from scratch,
and a purely multiplicative sigmoid gate (about 0.25 everywhere at initialisation) would damp
the signal and gradients of all heads at the start; with the residual form the block starts
close to a scaled identity and learns how much to re-weight.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        peak = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return torch.sigmoid(avg + peak)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Residual CBAM block: x + (x * channel attention) * spatial attention."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        refined = x * self.channel(x)
        return x + refined * self.spatial(refined)


class AttentionFPN(nn.Module):
    """Wraps a backbone with FPN so that each of its output levels passes through its own CBAM."""

    def __init__(self, backbone: nn.Module, level_names: tuple[str, ...]):
        super().__init__()
        self.backbone = backbone
        self.out_channels = backbone.out_channels
        self.attention = nn.ModuleDict({name: CBAM(self.out_channels) for name in level_names})

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        features = self.backbone(x)
        return OrderedDict((name, self.attention[name](f)) for name, f in features.items())
