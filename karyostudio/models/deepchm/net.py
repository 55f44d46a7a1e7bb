"""DeepCHM's network: ResNet encoder + FPN decoder, saliency head, ASPP classification/regression heads.

Encoder: a torchvision ResNet built from scratch (weights=None) on one grey channel. Decoder: an
FPN top-down pathway (lateral 1x1 convs, nearest upsampling, 3x3 smoothing) down to
``feature_stride`` (4 in the paper: the 128 x 192 map "P3" of a 512 x 768 input); only that map
feeds the heads. The saliency head is a 3x3 conv to three sigmoid channels (skeleton, edge,
intersection). With PMInf the saliency probabilities are concatenated to the features before
each detection head; each head fuses with a 1x1 conv, encodes with ASPP and predicts per anchor
one objectness logit (the paper's two-way softmax is a sigmoid of one logit) or five offsets.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models import resnet18, resnet34, resnet50

from karyostudio.models.deepchm.spec import DeepCHMSpec

_RESNETS = {"resnet18": (resnet18, (64, 128, 256, 512)), "resnet34": (resnet34, (64, 128, 256, 512)),
            "resnet50": (resnet50, (256, 512, 1024, 2048))}
_STAGE_STRIDES = (4, 8, 16, 32)
# Start the saliency and objectness outputs near a low probability so the first steps are not
# dominated by the huge number of background cells (the usual focal-loss prior).
_PRIOR = 0.01


def _norm(channels: int) -> nn.GroupNorm:
    # GroupNorm: training runs with batches of 1 (the paper's mini-batch size).
    return nn.GroupNorm(min(32, channels // 4) or 1, channels)


class ResNetFPN(nn.Module):
    def __init__(self, spec: DeepCHMSpec):
        super().__init__()
        build, widths = _RESNETS[spec.backbone]
        net = build(weights=None)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.first = _STAGE_STRIDES.index(spec.feature_stride)
        c = spec.fpn_channels
        self.lateral = nn.ModuleList([nn.Conv2d(w, c, 1) for w in widths[self.first:]])
        self.smooth = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), _norm(c), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        feats = feats[self.first:]
        top = self.lateral[-1](feats[-1])
        for lateral, feat in zip(reversed(self.lateral[:-1]), reversed(feats[:-1])):
            top = lateral(feat) + F.interpolate(top, size=feat.shape[-2:], mode="nearest")
        return self.smooth(top)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: parallel dilated 3x3 convs (rate 1 = plain) + image pooling."""

    def __init__(self, channels: int, rates: tuple[int, ...]):
        super().__init__()
        self.branches = nn.ModuleList([
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=r, dilation=r, bias=False), _norm(channels),
                          nn.ReLU(inplace=True)) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(channels * (len(rates) + 1), channels, 1, bias=False),
                                     _norm(channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        outs.append(self.pool(x).expand(-1, -1, *x.shape[-2:]))
        return self.project(torch.cat(outs, dim=1))


class AnchorHead(nn.Module):
    def __init__(self, in_channels: int, channels: int, rates: tuple[int, ...], outputs: int):
        super().__init__()
        self.fuse = nn.Sequential(nn.Conv2d(in_channels, channels, 1, bias=False), _norm(channels),
                                  nn.ReLU(inplace=True))
        self.aspp = ASPP(channels, rates)
        self.out = nn.Conv2d(channels, outputs, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.aspp(self.fuse(x)))


class DeepCHMNet(nn.Module):
    """images [B, 1, H, W] (H, W multiples of 32) -> dict of maps at 1/feature_stride:
    "saliency" logits [B, 3, h, w], "cls" logits [B, A, h, w], "reg" offsets [B, 5A, h, w]."""

    def __init__(self, spec: DeepCHMSpec):
        super().__init__()
        self.spec = spec
        self.backbone = ResNetFPN(spec)
        c = spec.fpn_channels
        self.saliency = nn.Conv2d(c, 3, 3, padding=1)
        extra = 3 if spec.use_pminf else 0
        a = spec.anchors_per_location
        self.cls_head = AnchorHead(c + extra, spec.head_channels, tuple(spec.aspp_rates), a)
        self.reg_head = AnchorHead(c + extra, spec.head_channels, tuple(spec.aspp_rates), 5 * a)
        bias = -math.log((1 - _PRIOR) / _PRIOR)
        nn.init.constant_(self.saliency.bias, bias)
        nn.init.constant_(self.cls_head.out.bias, bias)
        nn.init.normal_(self.reg_head.out.weight, std=0.001)
        nn.init.zeros_(self.reg_head.out.bias)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        saliency = self.saliency(features)
        if self.spec.use_pminf:
            features = torch.cat([features, torch.sigmoid(saliency)], dim=1)
        return {"saliency": saliency, "cls": self.cls_head(features), "reg": self.reg_head(features)}
