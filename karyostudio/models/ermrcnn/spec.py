"""ERMRCNNSpec: everything needed to rebuild an Enhanced Rotated Mask R-CNN, as a plain dict.

Defaults follow the paper (Wang et al., "Enhanced Rotated Mask R-CNN for Chromosome
Segmentation"): ResNet-50 + FPN, 640 x 512 input (longer side 640), 24 chromosome classes plus
background, both axis-aligned and rotated box detection ("H&R") and the endpoint heatmap
branch ("ED"). ``horizontal_branch`` / ``endpoint_branch`` switch the two enhancements off for
the paper's ablations (both off = plain Rotated Mask R-CNN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from karyostudio.core.classes import NUM_CLASSES
from karyostudio.core.typed_mapping import from_mapping, to_mapping
from karyostudio.models.maskrcnn.spec import BACKBONES, NORMS, MaskRCNNSpec


class ERMRCNNSpecError(ValueError):
    """A spec that no model can be built from."""


@dataclass(frozen=True)
class ERMRCNNSpec:
    backbone: str = "resnet50"
    norm: str = "group"
    num_classes: int = NUM_CLASSES + 1  # background + 24 classes
    input_size: int = 640  # longer image side fed to the network
    image_mean: float = 0.5
    image_std: float = 0.25
    fpn_channels: int = 256
    box_representation: int = 1024
    mask_head_channels: int = 256
    mask_size: int = 28  # m of the m x m mask in the RoI's rotated frame
    # One mask for all classes: a chromosome's outline does not depend on its class, and with 24
    # classes of two chromosomes each a per-class mask channel sees few examples per batch.
    class_agnostic_masks: bool = True
    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128, 256)  # one per FPN level (strides 4..64)
    # Anchors are upright boxes of these h / w ratios; the RPN regresses the angle from them.
    anchor_ratios: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    rpn_fg_iou: float = 0.7
    rpn_bg_iou: float = 0.3
    rpn_batch_size_per_image: int = 256
    rpn_pre_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_train: int = 1000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 500
    rpn_nms_thresh: float = 0.7
    box_batch_size_per_image: int = 512
    box_positive_fraction: float = 0.25
    mask_batch_size_per_image: int = 64  # positives sent to the mask head per image
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    mask_nms_thresh: float = 0.5  # mask-level NMS on the merged H and R detections
    detections_per_img: int = 100
    horizontal_branch: bool = True  # H&R: also detect axis-aligned boxes and merge
    endpoint_branch: bool = True  # ED: endpoint heatmap branch feeding the FPN
    endpoint_channels: int = 64
    endpoint_sigma: float = 2.0  # Gaussian of each endpoint in the heatmap target, input pixels
    endpoint_loss_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ERMRCNNSpecError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if self.norm not in NORMS:
            raise ERMRCNNSpecError(f"unknown norm {self.norm!r}; choose one of {', '.join(NORMS)}")
        if self.num_classes < 2:
            raise ERMRCNNSpecError(f"num_classes must count background and one class at least, got {self.num_classes}")
        if self.input_size < 64:
            raise ERMRCNNSpecError(f"input_size must be at least 64 px, got {self.input_size}")
        if len(self.anchor_sizes) != 5:
            raise ERMRCNNSpecError(f"anchor_sizes needs one size per FPN level (5), got {self.anchor_sizes}")
        if not self.anchor_ratios or min(self.anchor_ratios) <= 0:
            raise ERMRCNNSpecError(f"anchor_ratios must be positive, got {self.anchor_ratios}")
        if self.fpn_channels % 8 or self.fpn_channels < 8:
            raise ERMRCNNSpecError(f"fpn_channels must be a positive multiple of 8, got {self.fpn_channels}")
        if self.image_std <= 0 or self.endpoint_sigma <= 0:
            raise ERMRCNNSpecError("image_std and endpoint_sigma must be positive")
        for name in ("box_representation", "mask_head_channels", "mask_size", "detections_per_img",
                     "endpoint_channels", "rpn_batch_size_per_image", "box_batch_size_per_image",
                     "mask_batch_size_per_image"):
            if getattr(self, name) < 1:
                raise ERMRCNNSpecError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("rpn_fg_iou", "rpn_bg_iou", "box_positive_fraction", "box_nms_thresh", "mask_nms_thresh",
                     "rpn_nms_thresh"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ERMRCNNSpecError(f"{name} must lie in [0, 1], got {getattr(self, name)}")

    def backbone_spec(self) -> MaskRCNNSpec:
        """The Mask R-CNN spec whose backbone + FPN this model shares (models/maskrcnn/backbones.py)."""
        return MaskRCNNSpec(backbone=self.backbone, norm=self.norm, fpn_channels=self.fpn_channels,
                            input_size=self.input_size)

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ERMRCNNSpec":
        """The spec of a mapping of its fields (a config's or a manifest's); ERMRCNNSpecError names what does not fit."""
        return from_mapping(cls, data, error=ERMRCNNSpecError)
