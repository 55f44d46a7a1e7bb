"""Negative-anchor sampling: DeepCHM's dynamic adaptive sampling (DASmp, Sec. III.D) and its baseline.

DASmp draws N_samp = neg_per_pos x |S+| negatives (1:2 in the paper) without replacement by
weighted reservoir sampling (Efraimidis and Spirakis' A-Res: keep the k largest keys
u_i^(1/w_i), u_i uniform), with weights delta_i = softmax(f(FL_i)) (Eq. 14), f(x) = 1 - e^(-rho x)
with rho = 4 and FL_i the focal loss of negative i at the current step. Keys are compared as
log(u_i) / w_i, which orders them identically and does not underflow for tiny softmax weights.
The baseline draws the same number uniformly at random.
"""

from __future__ import annotations

import torch

from karyostudio.models.deepchm.loss import hardness_function


def sample_count(positives: int, negatives: int, neg_per_pos: float, min_negatives: int) -> int:
    """How many negatives to draw: neg_per_pos per positive (min_negatives without positives)."""
    wanted = int(round(neg_per_pos * positives)) if positives > 0 else min_negatives
    return min(wanted, negatives)


def weighted_reservoir_sample(weights: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of k items drawn without replacement with probabilities proportional to ``weights``
    (A-Res). Weights must be positive."""
    if k <= 0 or len(weights) == 0:
        return torch.zeros(0, dtype=torch.long, device=weights.device)
    if bool((weights <= 0).any()):
        raise ValueError("reservoir sampling weights must be positive")
    u = torch.rand(len(weights), generator=generator, device="cpu").to(weights.device).clamp_min(1e-12)
    keys = torch.log(u) / weights
    return torch.topk(keys, min(k, len(weights))).indices


def dasmp_weights(negative_losses: torch.Tensor, rho: float) -> torch.Tensor:
    """delta (Eq. 14): softmax over negatives of f(FL_i)."""
    return torch.softmax(hardness_function(negative_losses.detach(), rho), dim=0)


def sample_negatives(negative_losses: torch.Tensor, k: int, *, adaptive: bool, rho: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Positions (into negative_losses) of the k negatives that enter the loss."""
    n = len(negative_losses)
    if k >= n:
        return torch.arange(n, device=negative_losses.device)
    if adaptive:
        return weighted_reservoir_sample(dasmp_weights(negative_losses, rho), k, generator)
    return torch.randperm(n, generator=generator, device="cpu")[:k].to(negative_losses.device)
