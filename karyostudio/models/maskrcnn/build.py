"""build_maskrcnn: a torchvision Mask R-CNN assembled from parts for one-channel chromosome images.

Nothing is downloaded: every part is built with weights=None. The model reads 1 x H x W float
images in [0, 1]; its GeneralizedRCNNTransform normalises with one mean and one std, and its
min/max size both equal ``spec.input_size``, so an image whose longer side is already that size
(see image_prep.resize_long_side) passes through unscaled.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

from karyostudio.models.maskrcnn.attention import AttentionFPN
from karyostudio.models.maskrcnn.backbones import LEVEL_NAMES, build_backbone, norm_layer
from karyostudio.models.maskrcnn.heads import PartialMaskRoIHeads
from karyostudio.models.maskrcnn.spec import MaskRCNNSpec

ROI_LEVELS = ["0", "1", "2", "3"]
BOX_POOL, MASK_POOL = 7, 14


def build_maskrcnn(spec: MaskRCNNSpec) -> MaskRCNN:
    """A freshly initialised Mask R-CNN as ``spec`` describes it (training mode)."""
    backbone: nn.Module = build_backbone(spec)
    if spec.attention:
        backbone = AttentionFPN(backbone, LEVEL_NAMES)
    channels = spec.fpn_channels
    anchors = AnchorGenerator(sizes=tuple((s,) for s in spec.anchor_sizes),
                              aspect_ratios=(tuple(spec.aspect_ratios),) * len(spec.anchor_sizes))
    box_pool = MultiScaleRoIAlign(featmap_names=ROI_LEVELS, output_size=BOX_POOL, sampling_ratio=2)
    mask_pool = MultiScaleRoIAlign(featmap_names=ROI_LEVELS, output_size=MASK_POOL, sampling_ratio=2)
    mask_layers = (spec.mask_head_channels,) * 4
    model = MaskRCNN(
        backbone,
        num_classes=None,
        min_size=spec.input_size, max_size=spec.input_size,
        image_mean=[spec.image_mean], image_std=[spec.image_std],
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(channels, anchors.num_anchors_per_location()[0]),
        rpn_pre_nms_top_n_train=spec.rpn_pre_nms_top_n_train, rpn_post_nms_top_n_train=spec.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=spec.rpn_pre_nms_top_n_test, rpn_post_nms_top_n_test=spec.rpn_post_nms_top_n_test,
        rpn_batch_size_per_image=spec.rpn_batch_size_per_image,
        box_roi_pool=box_pool,
        box_head=TwoMLPHead(channels * BOX_POOL ** 2, spec.box_representation),
        box_predictor=FastRCNNPredictor(spec.box_representation, spec.num_classes),
        mask_roi_pool=mask_pool,
        mask_head=MaskRCNNHeads(channels, mask_layers, 1, norm_layer=norm_layer(spec)),
        mask_predictor=MaskRCNNPredictor(mask_layers[-1], mask_layers[-1], spec.num_classes),
    )
    heads = model.roi_heads
    model.roi_heads = PartialMaskRoIHeads(
        heads.box_roi_pool, heads.box_head, heads.box_predictor,
        fg_iou_thresh=0.5, bg_iou_thresh=0.5,
        batch_size_per_image=spec.box_batch_size_per_image, positive_fraction=0.25,
        bbox_reg_weights=None,
        score_thresh=spec.box_score_thresh, nms_thresh=spec.box_nms_thresh,
        detections_per_img=spec.detections_per_img,
        mask_roi_pool=heads.mask_roi_pool, mask_head=heads.mask_head, mask_predictor=heads.mask_predictor,
    )
    return model


def mask_head_parameters(model: MaskRCNN) -> list[nn.Parameter]:
    """Parameters only the mask branch uses (mask head and mask predictor)."""
    heads = model.roi_heads
    return list(heads.mask_head.parameters()) + list(heads.mask_predictor.parameters())
