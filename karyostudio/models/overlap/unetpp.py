"""Region-guided UNet++ (ChromSeg, Cao et al., Sec. II.B): foreground and crossing-overlap maps.

A UNet++ of ``depth`` levels (4 in the paper: a shallow U-Net backbone) whose skip paths are
nested and dense: node X[i][j] (level i, j-th node along the skip path) convolves the
concatenation of every earlier node of its level, X[i][0..j-1], with the upsampled X[i+1][j-1].
Two branches read the top level (full resolution):

  foreground   from the shallow, adjacent nodes X[0][1] and X[0][2] ("shallow and adjacent
               spatial features separate the background from the foreground");
  crossing     one deep-supervision head per node X[0][1..depth-1], which aggregate ever more
               levels; every head also reads the foreground probability map, so the crossing
               branch is guided by the foreground region (crossings lie inside chromosomes).

The guide is the foreground map detached from the graph: the foreground branch learns from its
own loss term only, and the crossing heads learn where inside it crossings lie. Training
applies the loss to every crossing head (deep supervision); inference averages the heads'
probabilities. The network returns logits; probabilities are their sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from karyostudio.core.typed_mapping import from_mapping, to_mapping


class UNetPPSpecError(ValueError):
    """An impossible network shape (depth, widths, channels)."""


@dataclass(frozen=True)
class UNetPPSpec:
    """Shape of a region-guided UNet++: input channels, first-level width, levels."""

    in_channels: int = 1
    base_channels: int = 16
    depth: int = 4

    def __post_init__(self) -> None:
        if self.in_channels < 1:
            raise UNetPPSpecError(f"in_channels must be at least 1, got {self.in_channels}")
        if self.base_channels < 2:
            raise UNetPPSpecError(f"base_channels must be at least 2, got {self.base_channels}")
        if not 2 <= self.depth <= 6:
            raise UNetPPSpecError(f"depth must lie in 2..6, got {self.depth}")

    @property
    def widths(self) -> list[int]:
        return [self.base_channels * 2 ** i for i in range(self.depth)]

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (one halving per level)."""
        return 2 ** (self.depth - 1)

    def to_dict(self) -> dict[str, int]:
        return to_mapping(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "UNetPPSpec":
        """The spec of a mapping of its fields (a config's or a manifest's); UNetPPSpecError names what does not fit."""
        return from_mapping(cls, data, error=UNetPPSpecError)


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3-BN-ReLU twice (the UNet++ node)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True))


def _head(in_channels: int, mid_channels: int) -> nn.Sequential:
    """conv3x3-BN-ReLU then the 1x1 convolution that gives one logit per pixel."""
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, 3, padding=1, bias=False), nn.BatchNorm2d(mid_channels),
        nn.ReLU(inplace=True), nn.Conv2d(mid_channels, 1, 1))


class RegionGuidedUNetPP(nn.Module):
    """forward(x) -> (foreground logits B x 1 x H x W, [crossing logits B x 1 x H x W per head])."""

    def __init__(self, spec: UNetPPSpec = UNetPPSpec()):
        super().__init__()
        self.spec = spec
        w, depth = spec.widths, spec.depth
        self.pool = nn.MaxPool2d(2)
        nodes = {}
        for i in range(depth):
            nodes[f"x{i}_0"] = conv_block(spec.in_channels if i == 0 else w[i - 1], w[i])
        for j in range(1, depth):
            for i in range(depth - j):
                nodes[f"x{i}_{j}"] = conv_block(w[i] * j + w[i + 1], w[i])
        self.nodes = nn.ModuleDict(nodes)
        self.foreground_sources = min(2, depth - 1)  # X[0][1] and X[0][2]
        self.foreground_head = _head(w[0] * self.foreground_sources, w[0])
        self.crossing_heads = nn.ModuleList(_head(w[0] + 1, w[0]) for _ in range(1, depth))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        m = self.spec.size_multiple
        if x.ndim != 4 or x.shape[1] != self.spec.in_channels or x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"expected B x {self.spec.in_channels} x H x W with H and W multiples of {m}, "
                             f"got {tuple(x.shape)}")
        depth = self.spec.depth
        grid: list[list[torch.Tensor]] = [[] for _ in range(depth)]
        grid[0].append(self.nodes["x0_0"](x))
        for i in range(1, depth):
            grid[i].append(self.nodes[f"x{i}_0"](self.pool(grid[i - 1][0])))
        for j in range(1, depth):
            for i in range(depth - j):
                up = F.interpolate(grid[i + 1][j - 1], scale_factor=2.0, mode="bilinear", align_corners=False)
                grid[i].append(self.nodes[f"x{i}_{j}"](torch.cat([*grid[i][:j], up], dim=1)))
        top = grid[0]
        foreground = self.foreground_head(torch.cat(top[1:1 + self.foreground_sources], dim=1))
        guide = torch.sigmoid(foreground).detach()
        crossing = [head(torch.cat([top[j], guide], dim=1)) for j, head in enumerate(self.crossing_heads, start=1)]
        return foreground, crossing

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(foreground, crossing) probabilities, B x H x W each; crossing averages the heads."""
        foreground, crossing = self(x)
        cross = torch.stack([torch.sigmoid(c) for c in crossing]).mean(dim=0)
        return torch.sigmoid(foreground)[:, 0], cross[:, 0]


def build_unetpp(spec: UNetPPSpec | dict | None = None) -> RegionGuidedUNetPP:
    if spec is None:
        spec = UNetPPSpec()
    elif isinstance(spec, dict):
        spec = UNetPPSpec.from_dict(spec)
    return RegionGuidedUNetPP(spec)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
