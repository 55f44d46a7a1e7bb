"""CenterNetSpec: everything that defines a chromosome centre detector, as a plain-dict dataclass.

The design follows CenterNet (Zhou et al., "Objects as Points", 2019) with the training-time
friendly targets of TTFNet (Liu et al., AAAI 2020): an elliptical Gaussian heatmap peak at each
chromosome's box centre (sigma = ``alpha`` x box side / 6 along each axis) and, at every pixel
under a narrower Gaussian (``beta``), the distances to the four box sides, learned with a GIoU
loss weighted by that Gaussian. Many pixels per object regress its box, which is what lets a
small network converge in few epochs on a CPU.

Scale: the network is trained on images rescaled so that chromosomes have about
``chromosome_px`` (median box diagonal) and is run at that scale on any image (see detector.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from karyostudio.core.typed_mapping import from_mapping, to_mapping


class CenterNetSpecError(ValueError):
    """A detector spec with unknown keys or values no model can use."""


@dataclass(frozen=True)
class CenterNetSpec:
    # network
    widths: tuple[int, ...] = (24, 48, 96, 160)  # stages at strides 4, 8, 16, 32
    blocks: tuple[int, ...] = (1, 2, 2, 2)  # residual blocks per stage
    stem_channels: int = 16
    fpn_channels: int = 64
    head_channels: int = 64
    # targets and loss (TTFNet)
    alpha: float = 0.54
    beta: float = 0.54
    focal_alpha: float = 2.0
    focal_beta: float = 4.0
    box_weight: float = 5.0
    box_base: float = 16.0  # box side distances = softplus(output) * box_base (input pixels)
    # scale: median chromosome box diagonal at the network's input, and the default image scale
    chromosome_px: float = 52.0
    default_scale: float = 0.5  # image -> input when the chromosome size cannot be estimated
    # decoding
    score_threshold: float = 0.3
    peak_kernel: int = 3
    max_detections: int = 400
    box_nms_iou: float = 0.8  # two peaks whose boxes overlap this much are one chromosome

    stride = 4  # output stride (class constant: the architecture fixes it)

    def __post_init__(self) -> None:
        if len(self.widths) != 4 or len(self.blocks) != 4:
            raise CenterNetSpecError("widths and blocks need one value per stage (4 stages)")
        if min(self.widths) < 1 or min(self.blocks) < 1 or self.stem_channels < 1:
            raise CenterNetSpecError("widths, blocks and stem_channels must be positive")
        if self.fpn_channels < 1 or self.head_channels < 1:
            raise CenterNetSpecError("fpn_channels and head_channels must be positive")
        for name in ("alpha", "beta", "box_base", "chromosome_px", "default_scale", "box_weight"):
            if not getattr(self, name) > 0:
                raise CenterNetSpecError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("score_threshold", "box_nms_iou"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise CenterNetSpecError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.peak_kernel < 1 or self.peak_kernel % 2 == 0:
            raise CenterNetSpecError(f"peak_kernel must be an odd number >= 1, got {self.peak_kernel}")
        if self.max_detections < 1:
            raise CenterNetSpecError(f"max_detections must be >= 1, got {self.max_detections}")

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CenterNetSpec":
        """The spec of a mapping of its fields (a config's or a manifest's); CenterNetSpecError names what does not fit."""
        return from_mapping(cls, data, error=CenterNetSpecError)
