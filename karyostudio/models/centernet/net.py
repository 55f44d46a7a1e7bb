"""The detector network: a small ResNet (BatchNorm) with an FPN merged down to stride 4, and two heads.

Outputs at stride 4: ``heatmap`` (logits of "a chromosome's box centre is here") and ``box``
(distances from the pixel to the left, top, right and bottom box sides, in input pixels).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from karyostudio.models.centernet.spec import CenterNetSpec

_PRIOR = 0.01  # initial heatmap probability (focal-loss practice: a stable start)


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (nn.Identity() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x), inplace=True)


def _stage(c_in: int, c_out: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(c_in, c_out, stride), *[BasicBlock(c_out, c_out, 1) for _ in range(blocks - 1)])


def _head(c_in: int, hidden: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, c_out, 1))


class CenterNet(nn.Module):
    def __init__(self, spec: CenterNetSpec):
        super().__init__()
        self.spec = spec
        w, s = spec.widths, spec.stem_channels
        self.stem = nn.Sequential(_conv_bn(1, s, 2), _conv_bn(s, s))  # stride 2
        self.stages = nn.ModuleList([_stage(s, w[0], spec.blocks[0], 2)] +
                                    [_stage(w[k - 1], w[k], spec.blocks[k], 2) for k in range(1, 4)])
        c = spec.fpn_channels
        self.lateral = nn.ModuleList([nn.Conv2d(width, c, 1) for width in w])
        self.smooth = _conv_bn(c, c)
        self.heatmap = _head(c, spec.head_channels, 1)
        self.box = _head(c, spec.head_channels, 4)
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - _PRIOR) / _PRIOR))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images: N x 1 x H x W in [0, 1], H and W multiples of 32."""
        x = self.stem(images - 0.5)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        merged = self.lateral[3](features[3])
        for k in (2, 1, 0):
            lateral = self.lateral[k](features[k])
            merged = lateral + F.interpolate(merged, size=lateral.shape[-2:], mode="nearest")
        merged = self.smooth(merged)
        return {"heatmap": self.heatmap(merged), "box": F.softplus(self.box(merged)) * self.spec.box_base}
