"""ChromSeg crossing-overlap metrics: region maps, well-detected / well-spliced, accuracies."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.metrics import masks as mk
from karyostudio.metrics.overlap import (
    OverlapAccumulator,
    crossing_instances,
    map_iou,
    region_maps,
    regions_correspond,
)

from tests.metrics.helpers import rect

CANVAS = (0, 0, 20, 20)


def rasterize(*polys):
    return mk.rasterize_all(list(polys), CANVAS)


def iou_of(pred, gt):
    return mk.iou_from_intersections(mk.intersection_matrix(pred, gt), mk.areas(pred), mk.areas(gt))


# A "+" crossing: a vertical and a horizontal bar sharing a 2 x 2 centre.
VERTICAL = rect(9, 2, 11, 18)
HORIZONTAL = rect(2, 9, 18, 11)


def test_region_maps_of_a_cross():
    masks = rasterize(VERTICAL, HORIZONTAL)
    fg, crossing = region_maps(masks, CANVAS)
    assert fg.sum() == 32 + 32 - 4
    assert crossing.sum() == 4 and crossing[9:11, 9:11].all()
    assert crossing_instances(masks, crossing, CANVAS) == [0, 1]


def test_map_iou():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert map_iou(a, b) is None
    a[0, :2] = True
    b[0, 1:3] = True
    assert map_iou(a, b) == pytest.approx(1 / 3)


def regions(*boxes):
    out = np.zeros((20, 20), bool)
    for x0, y0, x1, y1 in boxes:
        out[y0:y1, x0:x1] = True
    return out


@pytest.mark.parametrize("gt, pred, ok", [
    (regions((2, 2, 4, 4), (10, 10, 12, 12)), regions((3, 3, 5, 5), (10, 10, 11, 11)), True),   # both found
    (regions((2, 2, 4, 4), (10, 10, 12, 12)), regions((2, 2, 4, 4)), False),                      # one missed
    (regions((2, 2, 4, 4)), regions((2, 2, 4, 4), (15, 15, 17, 17)), False),                      # spurious
    (regions((2, 2, 4, 4), (5, 2, 7, 4)), regions((2, 2, 7, 4)), False),                          # merged
    (regions((2, 2, 7, 4)), regions((2, 2, 4, 4), (5, 2, 7, 4)), False),                          # split
    (regions(), regions(), True),                                                                  # no crossing
])
def test_regions_correspond(gt, pred, ok):
    assert regions_correspond(gt, pred) is ok


def test_overlap_accuracies_hand_computed():
    acc = OverlapAccumulator()
    gt = rasterize(VERTICAL, HORIZONTAL)
    # Image 1: both chromosomes reconstructed -> well detected and well spliced.
    pred = rasterize(VERTICAL, HORIZONTAL)
    acc.add_image(gt, pred, iou_of(pred, gt))
    # Image 2: the crossing is found, but the vertical chromosome comes out as a short stub
    # (IoU 6/32 < 0.5) -> well detected, not well spliced.
    pred = rasterize(rect(9, 8, 11, 11), HORIZONTAL)
    acc.add_image(gt, pred, iou_of(pred, gt))
    # Image 3: the cluster predicted as one blob: no crossing found -> not well detected.
    pred = rasterize(rect(2, 2, 18, 18))
    acc.add_image(gt, pred, iou_of(pred, gt))
    # Image 4: a lone chromosome, no crossing on either side: not part of N.
    lone = rasterize(rect(2, 2, 4, 12))
    acc.add_image(lone, lone, iou_of(lone, lone))
    r = acc.result()
    assert (r["n_images"], r["n_images_with_crossings"], r["n_well_detected"], r["n_well_spliced"]) == (4, 3, 2, 1)
    assert r["overlap_acc"] == pytest.approx(2 / 3)
    assert r["sp_acc"] == pytest.approx(1 / 2)
    assert r["overall_acc"] == pytest.approx(r["overlap_acc"] * r["sp_acc"])
    # Foreground IoU per image (GT foreground: 60 pixels): 1; stub + bar = 34 of 60; blob 60 of 256; 1.
    fg_ious = [1.0, 34 / 60, 60 / 256, 1.0]
    assert r["iou_foreground"] == pytest.approx(np.mean(fg_ious))
    # Crossing IoU over images with a crossing on some side: 1, 1, 0.
    assert r["iou_crossing"] == pytest.approx(2 / 3)


def test_overlap_accumulator_empty():
    r = OverlapAccumulator().result()
    assert r["overlap_acc"] is None and r["sp_acc"] is None and r["overall_acc"] is None
