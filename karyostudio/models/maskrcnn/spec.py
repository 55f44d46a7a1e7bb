"""MaskRCNNSpec: everything needed to rebuild a Mask R-CNN, as a plain dict in checkpoints and manifests.

Defaults follow the mixed-supervision report (ResNet-50-FPN, 640 px grayscale input, 24
chromosome classes plus background). Anchors are smaller and more elongated than torchvision's
COCO defaults (32..512 px, ratios 0.5..2): at 640 px a chromosome 21 is about 25 x 8 px and
chromosome 1 about 100 x 15 px, lying at any angle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from karyostudio.core.classes import NUM_CLASSES
from karyostudio.core.typed_mapping import from_mapping, to_mapping

BACKBONES = ("resnet50", "resnet18", "mobilenet_v3_large")
NORMS = ("group", "batch")
BACKBONE_SHORT_NAMES = {"resnet50": "r50", "resnet18": "r18", "mobilenet_v3_large": "mnv3"}


class SpecError(ValueError):
    """A model spec names an unknown backbone or holds values no model can be built from."""


@dataclass(frozen=True)
class MaskRCNNSpec:
    backbone: str = "resnet50"
    attention: bool = False  # CBAM on every FPN level (see attention.py)
    norm: str = "group"  # normalisation in backbone, FPN and mask head (see backbones.py)
    num_classes: int = NUM_CLASSES + 1  # background + 24 chromosome classes
    input_size: int = 640  # longer image side fed to the network
    image_mean: float = 0.5  # of images scaled to [0, 1]
    image_std: float = 0.25
    width_mult: float = 1.0  # MobileNetV3 only: channel multiplier
    fpn_channels: int = 256
    box_representation: int = 1024  # width of the two-layer box head
    mask_head_channels: int = 256
    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128, 256)  # one size per pyramid level
    aspect_ratios: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    rpn_batch_size_per_image: int = 256
    rpn_pre_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_train: int = 2000
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 1000
    box_batch_size_per_image: int = 512
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    detections_per_img: int = 100

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise SpecError(f"unknown backbone {self.backbone!r}; choose one of {', '.join(BACKBONES)}")
        if self.norm not in NORMS:
            raise SpecError(f"unknown norm {self.norm!r}; choose one of {', '.join(NORMS)}")
        if self.num_classes < 2:
            raise SpecError(f"num_classes must count background and at least one class, got {self.num_classes}")
        if self.input_size < 32:
            raise SpecError(f"input_size must be at least 32 px, got {self.input_size}")
        if self.image_std <= 0:
            raise SpecError(f"image_std must be positive, got {self.image_std}")
        if len(self.anchor_sizes) != 5:
            raise SpecError(f"anchor_sizes needs one size for each of the 5 pyramid levels, got {self.anchor_sizes}")
        if not self.aspect_ratios or min(self.aspect_ratios) <= 0:
            raise SpecError(f"aspect_ratios must be positive, got {self.aspect_ratios}")
        for name in ("fpn_channels", "box_representation", "mask_head_channels", "detections_per_img"):
            if getattr(self, name) < 1:
                raise SpecError(f"{name} must be positive, got {getattr(self, name)}")
        if self.fpn_channels % 8:
            raise SpecError(f"fpn_channels must be a multiple of 8 (GroupNorm groups), got {self.fpn_channels}")

    @property
    def short_name(self) -> str:
        """e.g. "maskrcnn-r50-attn"."""
        return f"maskrcnn-{BACKBONE_SHORT_NAMES[self.backbone]}" + ("-attn" if self.attention else "")

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MaskRCNNSpec":
        """The spec of a mapping of its fields (a config's or a manifest's); SpecError names what does not fit."""
        return from_mapping(cls, data, error=SpecError)
