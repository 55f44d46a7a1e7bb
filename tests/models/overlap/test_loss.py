"""Mixed-Weight Focal loss against values worked out by hand from the paper's Eqs. 1-2."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from karyostudio.models.overlap.loss import MixedWeightFocalLoss, focal_loss


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def logits(*ps: float) -> torch.Tensor:
    return torch.tensor([logit(p) for p in ps], dtype=torch.float64)


def test_focal_loss_matches_hand_computed_values():
    # y=1, P=0.8: -0.75 * 0.2 * ln 0.8 = 0.0334715; y=0, P=0.3: -0.25 * 0.3 * ln 0.7 = 0.0267506
    value = focal_loss(logits(0.8, 0.3), torch.tensor([1.0, 0.0]), alpha=0.75, gamma=1.0)
    assert value.item() == pytest.approx((0.0334715 + 0.0267506) / 2, abs=1e-6)


def test_focal_loss_gamma_two_weights_by_squared_confidence():
    # y=1, P=0.6: -0.25 * 0.4^2 * ln 0.6 = 0.0204330
    value = focal_loss(logits(0.6), torch.tensor([1.0]), alpha=0.25, gamma=2.0)
    assert value.item() == pytest.approx(0.0204330, abs=1e-6)


def test_gamma_zero_alpha_half_is_half_the_cross_entropy():
    z = torch.tensor([[-2.0, 0.3], [1.5, 4.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    expected = 0.5 * F.binary_cross_entropy_with_logits(z, y)
    assert focal_loss(z, y, alpha=0.5, gamma=0.0).item() == pytest.approx(expected.item(), rel=1e-12)


def test_focal_loss_is_finite_for_extreme_logits():
    value = focal_loss(torch.tensor([-200.0, 200.0]), torch.tensor([1.0, 0.0]), alpha=0.75, gamma=1.0)
    assert math.isfinite(value.item()) and value.item() > 50


def test_mwf_mixes_the_two_maps_with_lambda():
    # crossing: y=1 at P=0.9 -> -0.75 * 0.1 * ln 0.9 = 0.00790204
    # foreground: y=0 at P=0.4 -> -0.25 * 0.4 * ln 0.6 = 0.0510826
    loss = MixedWeightFocalLoss()  # the paper's best: lambda 0.7, alpha 0.75, gamma 1
    value = loss(logits(0.4), logits(0.9), torch.tensor([0.0]), torch.tensor([1.0]))
    assert value.item() == pytest.approx(0.7 * 0.00790204 + 0.3 * 0.0510826, abs=1e-6)
    with_phi = loss(logits(0.4), logits(0.9), torch.tensor([0.0]), torch.tensor([1.0]), phi=0.5)
    assert with_phi.item() == pytest.approx(value.item() + 0.5, abs=1e-9)


def test_deep_supervision_averages_the_crossing_heads():
    loss = MixedWeightFocalLoss(lam=0.5, alpha=0.5, gamma=0.0)
    fg, y_fg, y_c = logits(0.7), torch.tensor([1.0]), torch.tensor([0.0])
    heads = [logits(0.2), logits(0.6)]
    expected = (loss(fg, heads[0], y_fg, y_c) + loss(fg, heads[1], y_fg, y_c)) / 2
    assert loss.deep_supervised(fg, heads, y_fg, y_c).item() == pytest.approx(expected.item(), rel=1e-12)


def test_loss_gradient_pushes_towards_the_truth():
    z = torch.zeros(4, requires_grad=True)
    focal_loss(z, torch.tensor([1.0, 1.0, 0.0, 0.0]), alpha=0.75, gamma=1.0).backward()
    assert (z.grad[:2] < 0).all() and (z.grad[2:] > 0).all()


@pytest.mark.parametrize("kwargs", [{"lam": 1.5}, {"alpha": -0.1}, {"gamma": -1.0}])
def test_bad_hyper_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        MixedWeightFocalLoss(**kwargs)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        focal_loss(torch.zeros(2, 3), torch.zeros(3, 2), alpha=0.5, gamma=1.0)
