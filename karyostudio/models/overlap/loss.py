"""ChromSeg's Mixed-Weight Focal (MWF) loss (Cao et al., Sec. II.C, Eqs. 1-2).

Focal loss of a probability map P against a binary truth y, per pixel (Eq. 1):

    FL = -alpha * (1 - P)^gamma * log(P)          where y = 1
    FL = -(1 - alpha) * P^gamma * log(1 - P)      where y = 0

averaged over the pixels. The MWF loss mixes the crossing-overlap map's and the foreground
map's focal losses (Eq. 2):

    MWF = lambda * FL(P_c) + (1 - lambda) * FL(P_f) + phi

with phi a regularisation term (0 unless given; the trainer regularises through the
optimiser's weight decay). The paper's best setting is lambda = 0.7, alpha = 0.75, gamma = 1;
gamma = 0 with alpha = 0.5 is half the binary cross-entropy.

The functions take logits: log(P) = logsigmoid(z) and log(1 - P) = logsigmoid(-z) are the same
quantities without the overflow of taking the log of a rounded sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

PAPER_LAMBDA, PAPER_ALPHA, PAPER_GAMMA = 0.7, 0.75, 1.0


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Mean focal loss (Eq. 1) of sigmoid(logits) against a 0/1 target of the same shape."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    target = target.to(logits.dtype)
    p = torch.sigmoid(logits)
    positive = -alpha * (1.0 - p) ** gamma * F.logsigmoid(logits)
    negative = -(1.0 - alpha) * p ** gamma * F.logsigmoid(-logits)
    return (target * positive + (1.0 - target) * negative).mean()


@dataclass(frozen=True)
class MixedWeightFocalLoss:
    """MWF loss (Eq. 2) with the paper's best hyper-parameters by default."""

    lam: float = PAPER_LAMBDA
    alpha: float = PAPER_ALPHA
    gamma: float = PAPER_GAMMA

    def __post_init__(self) -> None:
        for name, value in (("lambda", self.lam), ("alpha", self.alpha)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"MWF {name} must lie in [0, 1], got {value}")
        if self.gamma < 0:
            raise ValueError(f"MWF gamma must be non-negative, got {self.gamma}")

    def __call__(self, foreground_logits: torch.Tensor, crossing_logits: torch.Tensor,
                 foreground_target: torch.Tensor, crossing_target: torch.Tensor,
                 phi: torch.Tensor | float = 0.0) -> torch.Tensor:
        l_f = focal_loss(foreground_logits, foreground_target, self.alpha, self.gamma)
        l_c = focal_loss(crossing_logits, crossing_target, self.alpha, self.gamma)
        return self.lam * l_c + (1.0 - self.lam) * l_f + phi

    def deep_supervised(self, foreground_logits: torch.Tensor, crossing_heads: Sequence[torch.Tensor],
                        foreground_target: torch.Tensor, crossing_target: torch.Tensor) -> torch.Tensor:
        """MWF averaged over the crossing heads of deep supervision (one foreground map)."""
        if not crossing_heads:
            raise ValueError("at least one crossing head is needed")
        losses = [self(foreground_logits, c, foreground_target, crossing_target) for c in crossing_heads]
        return torch.stack(losses).mean()
