"""Endpoint branch of Enhanced Rotated Mask R-CNN: targets, Eq. (4) loss and the branch itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from karyostudio.models.ermrcnn.model import rbox_ends, target_points
from karyostudio.models.ermrcnn.endpoints import (
    EndpointBranch,
    endpoint_heatmap,
    endpoint_loss,
    mask_endpoints,
)


def test_endpoint_loss_is_the_mean_squared_error_of_eq4():
    # sigmoid(0) = 0.5 and sigmoid(ln 3) = 0.75 against targets 1, 0, 0.5, 0.75:
    logits = torch.tensor([[[[0.0, 0.0], [0.0, math.log(3.0)]]]])
    target = torch.tensor([[[[1.0, 0.0], [0.5, 0.75]]]])
    expected = (0.25 + 0.25 + 0.0 + 0.0) / 4
    assert float(endpoint_loss(logits, target)) == pytest.approx(expected, abs=1e-7)
    with pytest.raises(ValueError, match="differ in shape"):
        endpoint_loss(logits, target[..., :1])


def test_heatmap_peaks_at_the_endpoint_with_the_gaussian_profile():
    heat = endpoint_heatmap(np.array([[10.5, 7.5], [3.0, 3.0]]), (16, 20), sigma=2.0)
    assert heat.shape == (16, 20)
    assert float(heat[7, 10]) == pytest.approx(1.0)  # pixel centre (10.5, 7.5)
    assert float(heat[7, 12]) == pytest.approx(math.exp(-4 / 8), rel=1e-6)  # 2 px away
    assert float(heat[15, 0]) == 0.0  # beyond 3 sigma of both points
    # (3, 3) lies on a pixel corner: the four pixels around it are equally hot.
    corner = heat[2:4, 2:4]
    assert torch.allclose(corner, torch.full((2, 2), math.exp(-0.5 / 8)))


def test_mask_endpoints_are_the_ends_of_a_bar():
    mask = np.zeros((30, 40), dtype=bool)
    mask[10:15, 5:35] = True  # horizontal bar, 30 px long
    ends = mask_endpoints(mask)
    ends = ends[np.argsort(ends[:, 0])]
    assert ends[0, 0] < 9 and ends[1, 0] > 31
    assert np.all(np.abs(ends[:, 1] - 12.5) <= 1.0)
    assert mask_endpoints(np.zeros((5, 5), dtype=bool)).shape == (0, 2)


def test_rbox_ends_and_target_sources():
    ends = rbox_ends(np.array([[20.0, 30.0, 4.0, 10.0, 90.0]]))  # long axis along x
    np.testing.assert_allclose(np.sort(ends[:, 0]), [15.0, 25.0], atol=1e-9)
    np.testing.assert_allclose(ends[:, 1], [30.0, 30.0], atol=1e-9)
    given = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_allclose(target_points({"endpoints": given, "rboxes": torch.zeros(1, 5)}),
                               [[1, 2], [3, 4]])
    boxes_only = target_points({"rboxes": torch.tensor([[20.0, 30.0, 4.0, 10.0, 90.0]])})
    assert boxes_only.shape == (2, 2)


def test_branch_adds_its_fifth_layer_to_every_level_and_outputs_an_input_sized_heatmap():
    torch.manual_seed(0)
    branch = EndpointBranch(16, 8)
    feats = {"0": torch.rand(1, 16, 16, 16), "1": torch.rand(1, 16, 8, 8), "pool": torch.rand(1, 16, 2, 2)}
    enhanced, heat = branch(feats, (64, 64))
    assert heat.shape == (1, 1, 64, 64)
    for name, f in feats.items():
        fifth = branch.fifth(branch.body(f))
        torch.testing.assert_close(enhanced[name], f + fifth)
