"""DeepCHM loss terms against hand-computed values (Eqs. 1, 5-12)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from karyostudio.models.deepchm.assign import assign_anchors
from karyostudio.models.deepchm.loss import (
    anchor_focal_loss,
    aspect_ratio,
    bend_degree,
    hardness_function,
    hardness_weights,
    kld_regression_loss,
    saliency_focal_loss,
)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_saliency_focal_loss_matches_eq1_by_hand():
    # One channel, 1 x 3 map: a peak (y = 1, p = 0.8), a Gaussian flank (y = 0.5, p = 0.4), background (p = 0.1).
    probs = [0.8, 0.4, 0.1]
    target = torch.tensor([1.0, 0.5, 0.0]).reshape(1, 1, 1, 3)
    logits = torch.tensor([_logit(p) for p in probs]).reshape(1, 1, 1, 3)
    expected = (-(0.2 ** 2) * math.log(0.8)
                - (0.5 ** 4) * 0.4 ** 2 * math.log(0.6)
                - 1.0 * 0.1 ** 2 * math.log(0.9)) / 1.0  # one peak
    assert float(saliency_focal_loss(logits, target)) == pytest.approx(expected, rel=1e-5)


def test_saliency_focal_loss_normalises_each_channel_by_its_peaks():
    target = torch.zeros(1, 2, 1, 2)
    target[0, 0] = 1.0  # two peaks in channel 0, none in channel 1
    logits = torch.full((1, 2, 1, 2), _logit(0.5))
    per_peak = -(0.5 ** 2) * math.log(0.5)
    per_background = -(0.5 ** 2) * math.log(0.5)
    expected = (2 * per_peak) / 2 + (2 * per_background) / 1
    assert float(saliency_focal_loss(logits, target)) == pytest.approx(expected, rel=1e-5)


def test_anchor_focal_loss_by_hand():
    logits = torch.tensor([_logit(0.9), _logit(0.3)])
    labels = torch.tensor([1.0, 0.0])
    expected = [-(0.1 ** 2) * math.log(0.9), -(0.3 ** 2) * math.log(0.7)]
    assert anchor_focal_loss(logits, labels).tolist() == pytest.approx(expected, rel=1e-5)


def test_hardness_weights_eq7_to_11_for_a_crossing_anchor():
    # Two boxes side by side; an anchor on the first that also touches the second.
    boxes = torch.tensor([[50.0, 50.0, 10.0, 40.0, 0.0], [58.0, 50.0, 10.0, 40.0, 0.0]])
    anchor = torch.tensor([[50.0, 50.0, 10.0, 40.0, 0.0]])
    assignment = assign_anchors(anchor, boxes, 0.6, 0.4)
    iou_own, iou_other = 1.0, (2.0 * 40.0) / (2 * 400.0 - 80.0)  # overlap 2 x 40 of two 10 x 40 boxes
    u = iou_own / (iou_own + iou_other)  # Eq. 11
    assert float(assignment.overlap_degree[0]) == pytest.approx(u, rel=1e-5)
    r = float(aspect_ratio(boxes[:1])[0])
    assert r == pytest.approx(4.0)  # Eq. 10
    v = 2.0  # a bend of 2 px
    weight = hardness_weights(torch.tensor([1.0]), torch.tensor([v]), torch.tensor([r]),
                              assignment.overlap_degree, lam=1.0, rho=1.0)
    expected = 1.0 + (1.0 - math.exp(-(1.0 + v * r * u)))  # Eqs. 7 and 8
    assert float(weight[0]) == pytest.approx(expected, rel=1e-5)
    # An isolated straight chromosome gets lambda + f(0) = lambda.
    plain = hardness_weights(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([4.0]), torch.tensor([1.0]))
    assert float(plain[0]) == pytest.approx(1.0)
    assert float(hardness_function(torch.tensor(0.5), 4.0)) == pytest.approx(1 - math.exp(-2.0))


def test_bend_degree_is_the_mean_distance_to_the_long_centre_line():
    box = np.array([10.0, 20.0, 6.0, 30.0, 0.0])  # long axis vertical through x = 10
    points = np.array([[10.0, 8.0], [12.0, 20.0], [7.0, 30.0]])
    assert bend_degree(points, box) == pytest.approx((0.0 + 2.0 + 3.0) / 3)
    turned = np.array([10.0, 20.0, 6.0, 30.0, 90.0])  # long axis horizontal through y = 20
    assert bend_degree(np.array([[0.0, 21.0], [5.0, 16.0]]), turned) == pytest.approx(2.5)


def test_kld_regression_loss_by_hand():
    gt = torch.tensor([[0.0, 0.0, 2.0, 4.0, 0.0], [5.0, 5.0, 2.0, 4.0, 0.0]])
    pred = torch.tensor([[1.0, 0.0, 2.0, 4.0, 0.0], [5.0, 5.0, 2.0, 4.0, 0.0]])
    weights = torch.tensor([2.0, 1.0])
    # Sigma = diag(1, 4); a 1 px shift along x: KL = 1/2 (1 + 2 + 0 - 2) = 0.5.
    first = 1.0 - 1.0 / (1.0 + math.log(1.5))
    expected = (2.0 * first + 1.0 * 0.0) / 2
    assert float(kld_regression_loss(pred, gt, weights, tau=1.0)) == pytest.approx(expected, rel=1e-5)
    assert float(kld_regression_loss(pred[:0], gt[:0], weights[:0])) == 0.0


def test_assignment_positive_negative_and_ignored():
    gt = torch.tensor([[50.0, 50.0, 10.0, 40.0, 0.0]])
    anchors = torch.tensor([[50.0, 50.0, 10.0, 40.0, 0.0],  # IoU 1: positive
                            [50.0, 55.0, 10.0, 40.0, 0.0],  # IoU 35/45 = 0.78: positive
                            [50.0, 70.0, 10.0, 40.0, 0.0],  # IoU 20/60 = 0.33: negative
                            [50.0, 62.0, 10.0, 40.0, 0.0],  # IoU 28/52 = 0.54: ignored
                            [200.0, 200.0, 10.0, 40.0, 0.0]])  # far: negative
    a = assign_anchors(anchors, gt, 0.6, 0.4)
    assert a.positive.tolist() == [True, True, False, False, False]
    assert a.negative.tolist() == [False, False, True, False, True]
    assert float(a.max_iou[1]) == pytest.approx(35 / 45, rel=1e-5)


def test_each_box_keeps_its_best_anchor_even_below_the_positive_threshold():
    gt = torch.tensor([[50.0, 50.0, 10.0, 40.0, 0.0]])
    anchors = torch.tensor([[50.0, 62.0, 10.0, 40.0, 0.0], [50.0, 70.0, 10.0, 40.0, 0.0]])
    a = assign_anchors(anchors, gt, 0.6, 0.4)
    assert a.positive.tolist() == [True, False]
    assert a.gt_index[0] == 0
