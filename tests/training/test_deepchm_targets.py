"""DeepCHM saliency targets (Eq. 2) and hardness inputs from masks and from rotated boxes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from karyostudio.training.deepchm_targets import (
    EDGE,
    INTERSECTION,
    SKELETON,
    centre_segment,
    gaussian_map,
    targets_from_boxes,
    targets_from_masks,
)


def test_gaussian_map_peaks_at_marked_cells_and_decays_by_eq2():
    grid = gaussian_map(np.array([[9.0, 5.0]]), (4, 6), stride=4, sigma2=2.0)  # cell (row 1, col 2)
    assert grid[1, 2] == 1.0
    assert grid[1, 3] == pytest.approx(math.exp(-1 / 4.0))
    assert grid[3, 4] == pytest.approx(math.exp(-8 / 4.0))
    assert gaussian_map(np.zeros((0, 2)), (2, 2), 4, 1.0).max() == 0.0


def _bar(shape, rows, cols):
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def test_crossing_bars_are_flagged_and_meet_in_the_intersection_map():
    shape = (64, 64)
    vertical = _bar(shape, slice(8, 56), slice(29, 35))
    horizontal = _bar(shape, slice(29, 35), slice(8, 56))
    apart = _bar(shape, slice(2, 6), slice(40, 60))
    boxes = np.array([[32, 32, 6, 48, 0.0], [32, 32, 6, 48, 90.0], [50, 4, 4, 20, 90.0]])
    found = targets_from_masks(np.stack([vertical, horizontal, apart]), boxes, stride=4)
    assert found.crossing.tolist() == [1.0, 1.0, 0.0]
    assert found.maps.shape == (3, 16, 16)
    peak = np.unravel_index(np.argmax(found.maps[INTERSECTION]), (16, 16))
    assert abs(peak[0] - 8) <= 1 and abs(peak[1] - 8) <= 1  # the crossing at (32, 32) px
    assert found.maps[INTERSECTION][2, 2] < 0.01
    assert found.maps[SKELETON][3, 7:9].max() == 1.0  # the vertical bar's skeleton runs at x ~ 32 px
    assert found.maps[EDGE].max() == 1.0
    assert found.bend.tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1.0)


def test_a_bent_mask_has_a_larger_bend_degree_than_a_straight_one():
    shape = (64, 64)
    straight = _bar(shape, slice(10, 54), slice(20, 26))
    bent = np.zeros(shape, dtype=bool)
    bent[10:54, 20:26] = True
    bent[10:16, 26:44] = True  # an L: skeleton far from the box's long axis
    boxes = np.array([[23, 32, 6, 44, 0.0], [32, 32, 24, 44, 0.0]])
    found = targets_from_masks(np.stack([straight, bent]), boxes, stride=4)
    assert found.bend[0] < 1.0 < found.bend[1]
    assert found.crossing.tolist() == [1.0, 1.0]  # they overlap along the bar


def test_box_targets_use_centre_segments():
    start, end = centre_segment(np.array([30.0, 30.0, 6.0, 26.0, 0.0]))
    assert start.tolist() == pytest.approx([30.0, 20.0]) and end.tolist() == pytest.approx([30.0, 40.0])
    boxes = np.array([[30.0, 30.0, 6.0, 26.0, 0.0], [30.0, 30.0, 6.0, 26.0, 90.0], [55.0, 8.0, 4.0, 12.0, 90.0]])
    found = targets_from_boxes(boxes, (64, 64), stride=4)
    assert found.crossing.tolist() == [1.0, 1.0, 0.0]
    assert found.maps[INTERSECTION][7, 7] == 1.0  # (30, 30) px is in cell (7, 7)
    assert found.bend.tolist() == [0.0, 0.0, 0.0]
    assert found.maps[SKELETON][5, 7] == 1.0
