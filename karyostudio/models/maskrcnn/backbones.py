"""Feature-pyramid backbones with a true one-channel stem, built without any downloaded weights.

Normalisation: every model here is trained from scratch (no pretrained weights can be used), so
torchvision's default FrozenBatchNorm2d would be wrong: frozen statistics only make sense when
they come from pretraining; frozen at their initial values (mean 0, variance 1) they normalise
nothing and a deep network trained from scratch diverges or stalls. Ordinary BatchNorm needs
large batches, but detection trains on 2-4 large images per GPU, where batch statistics are
noise. GroupNorm normalises each image on its own, so it behaves the same at any batch size
and across DistributedDataParallel without synchronisation; it is what made detectors trainable
from scratch (He, Girshick & Dollar, "Rethinking ImageNet Pre-training", ICCV 2019). "batch"
remains selectable for large-batch experiments.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable

import torch
from torch import nn
from torchvision.models import mobilenet_v3_large, resnet
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from karyostudio.models.maskrcnn.spec import MaskRCNNSpec

MAX_GROUPS = 32
# FPN level names; the RoI poolers read levels "0".."3", the RPN also reads "pool".
LEVEL_NAMES = ("0", "1", "2", "3", "pool")


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups where the channel count allows, else the largest power-of-two divisor."""
    return nn.GroupNorm(math.gcd(channels, MAX_GROUPS), channels)


def norm_layer(spec: MaskRCNNSpec) -> Callable[[int], nn.Module]:
    return group_norm if spec.norm == "group" else nn.BatchNorm2d


def one_channel_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A fresh copy of a stem convolution that reads one input channel (grayscale) instead of three."""
    return nn.Conv2d(1, conv.out_channels, kernel_size=conv.kernel_size, stride=conv.stride,
                     padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                     bias=conv.bias is not None)


def build_backbone(spec: MaskRCNNSpec) -> BackboneWithFPN:
    """The backbone + FPN of ``spec``: 256-channel (fpn_channels) maps at strides 4, 8, 16, 32 and 64."""
    if spec.backbone in ("resnet50", "resnet18"):
        return _resnet_fpn(spec)
    return _mobilenet_fpn(spec)


def _resnet_fpn(spec: MaskRCNNSpec) -> BackboneWithFPN:
    body = getattr(resnet, spec.backbone)(weights=None, norm_layer=norm_layer(spec))
    body.conv1 = one_channel_conv(body.conv1)
    nn.init.kaiming_normal_(body.conv1.weight, mode="fan_out", nonlinearity="relu")
    return_layers = {f"layer{k}": str(k - 1) for k in range(1, 5)}
    widths = [body.inplanes // 8 * 2 ** (k - 1) for k in range(1, 5)]  # 256..2048 (r50), 64..512 (r18)
    # The FPN convolutions are normalised too: from scratch they need it as much as the backbone.
    return BackboneWithFPN(body, return_layers, widths, spec.fpn_channels, extra_blocks=LastLevelMaxPool(),
                           norm_layer=norm_layer(spec))


def _mobilenet_fpn(spec: MaskRCNNSpec) -> BackboneWithFPN:
    features = mobilenet_v3_large(weights=None, width_mult=spec.width_mult, norm_layer=norm_layer(spec)).features
    features[0][0] = one_channel_conv(features[0][0])
    nn.init.kaiming_normal_(features[0][0].weight, mode="fan_out")
    # The last block before each stride change: strides 4, 8, 16 and 32 (torchvision's own
    # MobileNet FPN reads only strides 16/32, too coarse for 8 px wide chromosomes).
    strided = [i for i, block in enumerate(features) if getattr(block, "_is_cn", False)]
    ends = [i - 1 for i in strided[1:]] + [len(features) - 1]
    return_layers = {str(i): str(k) for k, i in enumerate(ends)}
    widths = _output_widths(features, return_layers)
    return BackboneWithFPN(features, return_layers, widths, spec.fpn_channels, extra_blocks=LastLevelMaxPool(),
                           norm_layer=norm_layer(spec))


def _output_widths(features: nn.Module, return_layers: dict[str, str]) -> list[int]:
    probe = IntermediateLayerGetter(features, return_layers=return_layers)
    with torch.no_grad():
        training = probe.training
        probe.eval()
        out = probe(torch.zeros(1, 1, 64, 64))
        probe.train(training)
    return [t.shape[1] for t in out.values()]


def pyramid_levels(backbone: nn.Module, size: int = 64) -> "OrderedDict[str, torch.Size]":
    """Level name -> feature shape for a size x size one-channel input (for tests and checks)."""
    training = backbone.training
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.zeros(1, 1, size, size))
    backbone.train(training)
    return OrderedDict((k, v.shape) for k, v in out.items())

