"""Mask R-CNN assembly: one input channel, 25 classes, GroupNorm from scratch, attention FPN, spec round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from karyostudio.models.maskrcnn.attention import CBAM, AttentionFPN
from karyostudio.models.maskrcnn.backbones import LEVEL_NAMES, build_backbone, group_norm, pyramid_levels
from karyostudio.models.maskrcnn.build import build_maskrcnn
from karyostudio.models.maskrcnn.heads import PartialMaskRoIHeads
from karyostudio.models.maskrcnn.spec import MaskRCNNSpec, SpecError

torch.set_num_threads(1)

TINY = dict(input_size=96, fpn_channels=32, box_representation=64, mask_head_channels=16,
            rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=100, rpn_pre_nms_top_n_test=100,
            rpn_post_nms_top_n_test=50, rpn_batch_size_per_image=64, box_batch_size_per_image=64)


def tiny_spec(**changes) -> MaskRCNNSpec:
    """A ResNet-18 Mask R-CNN small enough for CPU tests."""
    return MaskRCNNSpec(**{"backbone": "resnet18", **TINY, **changes})


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.backbone.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("backbone, extra", [("resnet18", {}), ("mobilenet_v3_large", {"width_mult": 0.5})])
def test_model_reads_one_channel_and_names_25_classes(backbone, extra):
    model = build_maskrcnn(tiny_spec(backbone=backbone, **extra))
    assert first_conv(model).in_channels == 1
    assert len(model.transform.image_mean) == 1 and len(model.transform.image_std) == 1
    assert model.roi_heads.box_predictor.cls_score.out_features == 25
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 25
    assert isinstance(model.roi_heads, PartialMaskRoIHeads)
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(1, 96, 80)])
    assert set(out[0]) >= {"boxes", "labels", "scores", "masks"}


def test_resnet50_is_the_default_and_is_built_without_downloads():
    spec = MaskRCNNSpec()
    assert spec.backbone == "resnet50" and spec.input_size == 640 and spec.num_classes == 25
    body = build_backbone(MaskRCNNSpec(fpn_channels=32)).body
    assert body.conv1.in_channels == 1
    assert body.layer4[0].conv3.out_channels == 2048  # bottleneck blocks: it really is ResNet-50


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3_large"])
def test_from_scratch_models_use_group_norm_only(backbone):
    model = build_maskrcnn(tiny_spec(backbone=backbone))
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d, nn.GroupNorm))]
    assert norms and all(isinstance(m, nn.GroupNorm) for m in norms)
    assert all(p.requires_grad for p in model.parameters())  # nothing frozen: no pretrained layers to keep
    assert any(isinstance(m, nn.GroupNorm) for m in model.roi_heads.mask_head.modules())


def test_group_norm_groups_divide_every_width():
    for channels in (16, 24, 40, 72, 120, 184, 960, 2048):
        norm = group_norm(channels)
        assert channels % norm.num_groups == 0 and norm.num_groups <= 32


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v3_large"])
def test_pyramid_has_strides_4_to_64(backbone):
    levels = pyramid_levels(build_backbone(tiny_spec(backbone=backbone)), size=128)
    assert tuple(levels) == LEVEL_NAMES
    assert [s[-1] for s in levels.values()] == [32, 16, 8, 4, 2]
    assert all(s[1] == 32 for s in levels.values())


def test_attention_fpn_puts_one_cbam_on_every_level_and_keeps_shapes():
    plain = build_backbone(tiny_spec())
    model = build_maskrcnn(tiny_spec(attention=True))
    assert isinstance(model.backbone, AttentionFPN)
    assert set(model.backbone.attention) == set(LEVEL_NAMES)
    assert all(isinstance(m, CBAM) for m in model.backbone.attention.values())
    assert pyramid_levels(model.backbone, 128) == pyramid_levels(plain, 128)


def test_cbam_reweights_features_and_passes_gradients():
    torch.manual_seed(0)
    block = CBAM(32)
    x = torch.randn(2, 32, 8, 8, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert block.spatial.conv.weight.grad.abs().sum() > 0
    assert block.channel.mlp[0].weight.grad.abs().sum() > 0


def test_spec_round_trips_through_a_plain_dict_and_rejects_nonsense():
    spec = tiny_spec(attention=True, aspect_ratios=(0.5, 1.0, 2.0))
    data = spec.to_dict()
    assert isinstance(data["anchor_sizes"], list)
    assert MaskRCNNSpec.from_dict(data) == spec
    assert spec.short_name == "maskrcnn-r18-attn"
    with pytest.raises(SpecError, match="backbone"):
        MaskRCNNSpec(backbone="vgg16")
    with pytest.raises(SpecError, match=r"unknown setting\(s\): \w+; known: backbone"):
        MaskRCNNSpec.from_dict({"backbone": "resnet18", "depth": 3})
    with pytest.raises(SpecError, match="anchor_sizes"):
        MaskRCNNSpec(anchor_sizes=(8, 16))
