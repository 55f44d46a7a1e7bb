"""DeepCHMSpec: everything that defines a DeepCHM detector, as a plain dict-convertible dataclass.

The defaults are the paper's (Wang et al., "Chromosome Detection in Metaphase Cell Images Using
Morphological Priors"): ResNet-50 encoder with an FPN decoder whose stride-4 map feeds the heads,
input 512 x 768 (here: the longer side scaled to input_size = 768, aspect kept), 48 rotated
anchors per location (base size 5, scales [2, 5], aspect ratios [2, 4], 15 degree steps over
[0, 180)), T_loc = 0.2, focal alpha/beta 2 and 4, lambda = tau =
rho = 1, rho = 4 for sampling, lambda1 = lambda2 = 2, positive/negative skew-IoU 0.6/0.4, 1:2
positive:negative sampling, skew-NMS 0.2.

The four ablation switches of Table III:
  use_pminf   saliency map concatenated to the features of both heads (prior morphological info);
  use_sgach   anchors only where the skeleton map >= T_loc (else on every location);
  use_hdlos   hardness weights omega (Eq. 7) in the positive focal and KLD losses (else 1);
  use_dasmp   negatives drawn by loss-weighted reservoir sampling (else uniformly at random).
The saliency head is trained in every variant (L_sei of Eq. 13); without PMInf and SGAch its
output is simply not used by the detector.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from karyostudio.core.typed_mapping import from_mapping, to_mapping

BACKBONES = ("resnet18", "resnet34", "resnet50")


class DeepCHMSpecError(ValueError):
    """A DeepCHM spec with unknown keys or values no model can use."""


@dataclass(frozen=True)
class DeepCHMSpec:
    # network
    backbone: str = "resnet50"
    fpn_channels: int = 256
    head_channels: int = 256
    aspp_rates: tuple[int, ...] = (1, 3, 6)
    input_size: int = 768  # longer image side (the paper: 512 x 768); images keep their aspect
    feature_stride: int = 4
    # anchors
    base_size: float = 5.0
    scales: tuple[float, ...] = (2.0, 5.0)
    ratios: tuple[float, ...] = (2.0, 4.0)
    angle_step: float = 15.0
    t_loc: float = 0.2
    # saliency targets (Gaussian variances in feature cells) and loss
    sigma2: tuple[float, float, float] = (1.0, 1.0, 2.0)  # skeleton, edge, intersection
    saliency_alpha: float = 2.0
    saliency_beta: float = 4.0
    focal_gamma: float = 2.0
    # assignment, hardness and sampling
    pos_iou: float = 0.6
    neg_iou: float = 0.4
    neg_per_pos: float = 2.0
    min_negatives: int = 32  # drawn when an image has no positive anchor
    hard_lambda: float = 1.0
    hard_rho: float = 1.0
    sample_rho: float = 4.0
    kld_tau: float = 1.0
    lambda_cls: float = 2.0
    lambda_reg: float = 2.0
    # decoding
    score_threshold: float = 0.5
    nms_threshold: float = 0.2
    pre_nms_top_n: int = 3000
    max_detections: int = 200
    # ablation switches (Table III)
    use_pminf: bool = True
    use_sgach: bool = True
    use_hdlos: bool = True
    use_dasmp: bool = True

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise DeepCHMSpecError(f"backbone must be one of {', '.join(BACKBONES)}; got {self.backbone!r}")
        if self.input_size < 32:
            raise DeepCHMSpecError(f"input_size must be at least 32 px, got {self.input_size}")
        if self.feature_stride not in (4, 8, 16, 32):
            raise DeepCHMSpecError(f"feature_stride must be 4, 8, 16 or 32, got {self.feature_stride}")
        if not self.scales or not self.ratios or min(self.scales) <= 0 or min(self.ratios) <= 0 or self.base_size <= 0:
            raise DeepCHMSpecError("anchor base_size, scales and ratios must be positive and non-empty")
        if not 0 < self.angle_step <= 180 or abs(180.0 / self.angle_step - round(180.0 / self.angle_step)) > 1e-9:
            raise DeepCHMSpecError(f"angle_step must divide 180 degrees, got {self.angle_step}")
        if len(self.sigma2) != 3 or min(self.sigma2) <= 0:
            raise DeepCHMSpecError("sigma2 needs three positive variances (skeleton, edge, intersection)")
        for name in ("t_loc", "pos_iou", "neg_iou", "score_threshold", "nms_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DeepCHMSpecError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.neg_iou > self.pos_iou:
            raise DeepCHMSpecError("neg_iou must not exceed pos_iou")
        if self.kld_tau < 1.0:
            raise DeepCHMSpecError(f"kld_tau must be >= 1 (Eq. 12), got {self.kld_tau}")
        for name in ("fpn_channels", "head_channels", "pre_nms_top_n", "max_detections"):
            if getattr(self, name) < 1:
                raise DeepCHMSpecError(f"{name} must be at least 1")
        if self.neg_per_pos <= 0 or self.hard_rho <= 0 or self.sample_rho <= 0 or self.hard_lambda < 0:
            raise DeepCHMSpecError("neg_per_pos, hard_rho and sample_rho must be positive, hard_lambda >= 0")

    @property
    def anchors_per_location(self) -> int:
        return len(self.scales) * len(self.ratios) * int(round(180.0 / self.angle_step))

    def to_dict(self) -> dict[str, Any]:
        return to_mapping(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DeepCHMSpec":
        """The spec of a mapping of its fields (a config's or a manifest's); DeepCHMSpecError names what does not fit."""
        return from_mapping(cls, data, error=DeepCHMSpecError)

    def with_flags(self, **flags: bool) -> "DeepCHMSpec":
        return dataclasses.replace(self, **flags)

