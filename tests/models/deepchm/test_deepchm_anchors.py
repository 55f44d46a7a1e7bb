"""Skeleton-guided rotated anchors: 48 per location with the paper's sizes and angles."""

from __future__ import annotations

import math

import pytest
import torch

from karyostudio.models.deepchm.anchors import anchor_locations, anchors_at, base_anchor_shapes, gather_at
from karyostudio.models.deepchm.spec import DeepCHMSpec, DeepCHMSpecError


def test_paper_anchor_set_has_48_shapes_with_expected_sides_and_angles():
    spec = DeepCHMSpec()
    shapes = base_anchor_shapes(spec)
    assert spec.anchors_per_location == 48
    assert shapes.shape == (48, 3)
    sides = {(round(float(w), 4), round(float(h), 4)) for w, h, _ in shapes}
    expected = {(round(5 * s / math.sqrt(r), 4), round(5 * s * math.sqrt(r), 4)) for s in (2, 5) for r in (2, 4)}
    assert sides == expected  # e.g. scale 5, ratio 4: 12.5 x 50
    assert bool((shapes[:, 1] >= shapes[:, 0]).all())  # h is the long side
    for w, h in expected:
        angles = sorted(float(t) for sw, sh, t in shapes if (round(float(sw), 4), round(float(sh), 4)) == (w, h))
        assert angles == [15.0 * k for k in range(12)]


def test_angle_step_sets_the_count_and_must_divide_180():
    assert DeepCHMSpec(angle_step=10.0).anchors_per_location == 72
    assert DeepCHMSpec(angle_step=30.0).anchors_per_location == 24
    with pytest.raises(DeepCHMSpecError):
        DeepCHMSpec(angle_step=25.0)


def test_locations_follow_the_skeleton_map_only_with_sgach():
    skeleton = torch.zeros(3, 4)
    skeleton[1, 2] = 0.9
    skeleton[2, 0] = 0.2  # exactly T_loc counts (Eq. 3 uses >=)
    skeleton[0, 0] = 0.19
    guided = anchor_locations(skeleton, 0.2, (3, 4), use_sgach=True)
    assert guided.tolist() == [6, 8]
    everywhere = anchor_locations(skeleton, 0.2, (3, 4), use_sgach=False)
    assert everywhere.tolist() == list(range(12))


def test_anchor_centres_are_cell_centres_and_order_matches_gather():
    spec = DeepCHMSpec(scales=(2.0,), ratios=(2.0,), angle_step=90.0)
    shapes = base_anchor_shapes(spec)  # 2 anchors per location
    locations = torch.tensor([5, 2])  # grid width 4: (row 1, col 1) and (row 0, col 2)
    anchors = anchors_at(locations, 4, 8, shapes)
    assert anchors.shape == (4, 5)
    assert anchors[:, :2].tolist() == [[12.0, 12.0], [12.0, 12.0], [20.0, 4.0], [20.0, 4.0]]
    assert anchors[:, 4].tolist() == [0.0, 90.0, 0.0, 90.0]
    # A head map whose channel c at cell k holds 100 k + c: anchor a of a location reads channel a.
    head = (torch.arange(12).reshape(1, 3, 4) * 100 + torch.arange(2).reshape(2, 1, 1)).float()
    assert gather_at(head, locations, 1).tolist() == [500.0, 501.0, 200.0, 201.0]
    reg = (torch.arange(12).reshape(1, 3, 4) * 100 + torch.arange(10).reshape(10, 1, 1)).float()
    values = gather_at(reg, locations, 5)
    assert values.shape == (4, 5)
    assert values[1].tolist() == [505.0, 506.0, 507.0, 508.0, 509.0]
