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

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping


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
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CenterNetSpec":
        if not isinstance(data, Mapping):
            raise CenterNetSpecError(f"a detector spec must be a mapping, got {type(data).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise CenterNetSpecError(f"unknown detector spec key(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            default = known[name].default
            try:
                if isinstance(default, tuple):
                    values[name] = tuple(int(v) for v in value)
                elif isinstance(default, bool):
                    values[name] = bool(value)
                elif isinstance(default, int):
                    if isinstance(value, float) and not value.is_integer():
                        raise ValueError(f"not a whole number: {value}")
                    values[name] = int(value)
                else:
                    values[name] = float(value)
            except (TypeError, ValueError) as exc:
                raise CenterNetSpecError(f"bad value for {name}: {value!r} ({exc})") from None
        return cls(**values)
