"""DeepCHM detection metrics: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.geometry.rotated import rotated_box_to_polygon
from karyostudio.metrics.detection import DetectionAccumulator, instance_rotated_boxes
from karyostudio.metrics.evaluate import evaluate_annotations

from tests.metrics.helpers import make_instance, make_set, rect


def test_paper_counts_duplicates_as_true_positives():
    # GT A, B, C. Predictions: A exactly (0.9), A again (0.8), nothing near B, a stray box (0.7),
    # and one covering C with IoU 0.6 that also touches B with IoU 0.2.
    iou = np.array([
        [1.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
        [0.0, 0.2, 0.6],
    ])
    acc = DetectionAccumulator()
    acc.add_image(iou, np.array([0.9, 0.8, 0.7, 0.6]), np.zeros(4, int), np.zeros(3, int))
    acc.add_image(np.zeros((0, 1)), np.zeros(0), np.zeros(0, int), np.zeros(1, int))  # a second image: 1 miss
    r = acc.result(score_threshold=0.5)
    # B is reached only with IoU 0.2: a FN; the second image's GT is a FN too.
    assert (r["tp"], r["fp"], r["fn"]) == (3, 1, 2)
    assert r["precision"] == pytest.approx(3 / 4)
    assert r["recall"] == pytest.approx(3 / 5)
    assert r["f1"] == pytest.approx(2 * 0.75 * 0.6 / (0.75 + 0.6))
    assert r["mfps"] == pytest.approx(1 / 2)
    # mOD: u = 1, 1 and 0.6 / (0.2 + 0.6) for the three TP.
    assert r["mod"] == pytest.approx((1 + 1 + 0.75) / 3)
    assert r["n_images"] == 2 and r["threshold_chosen_by"] == "given"


def test_threshold_maximising_f1_is_chosen():
    # Two GT. By score: TP (0.9), FP (0.8), TP (0.3).
    iou = np.array([[0.9, 0.0], [0.0, 0.0], [0.0, 0.7]])
    acc = DetectionAccumulator()
    acc.add_image(iou, np.array([0.9, 0.8, 0.3]), np.zeros(3, int), np.zeros(2, int))
    # t = 0.9: F1 = 2/(2+0+1); t = 0.8: 2/(2+1+1); t = 0.3: 4/(4+1+0) -> best.
    r = acc.result()
    assert r["score_threshold"] == 0.3 and r["threshold_chosen_by"] == "max_f1"
    assert r["f1"] == pytest.approx(0.8)
    assert acc.result(score_threshold=0.85)["f1"] == pytest.approx(2 / 3)


def test_no_predictions():
    acc = DetectionAccumulator()
    acc.add_image(np.zeros((0, 2)), np.zeros(0), np.zeros(0, int), np.zeros(2, int))
    r = acc.result()
    assert r["score_threshold"] is None and r["tp"] == 0 and r["fn"] == 2
    assert r["precision"] is None and r["recall"] == 0.0 and r["f1"] == 0.0 and r["mod"] is None
    assert r["ap"] == 0.0


def test_rotated_box_attribute_is_used_when_present():
    tilted = [50, 50, 6, 40, 45.0]
    inst = make_instance(0, rect(0, 0, 10, 10), rotated_box=tilted)
    np.testing.assert_allclose(instance_rotated_boxes([inst])[0], tilted)
    plain = make_instance(1, rect(0, 0, 10, 20))
    np.testing.assert_allclose(instance_rotated_boxes([plain])[0], [5, 10, 10, 20, 0], atol=1e-5)
    with pytest.raises(ValueError, match="rotated_box"):
        instance_rotated_boxes([make_instance(2, rect(0, 0, 1, 1), rotated_box=[1, 2, 3])])
    with pytest.raises(ValueError, match="rotated_box"):
        instance_rotated_boxes([make_instance(3, rect(0, 0, 1, 1), rotated_box=[0, 0, -1, 2, 0])])


def test_detection_through_evaluate_uses_skew_iou():
    # A tilted chromosome: its axis-aligned box is large, so an axis-aligned prediction of that
    # box overlaps the GT's rotated box with skew-IoU well below 0.5.
    gt_poly = rotated_box_to_polygon([50, 50, 6, 60, 45])
    x0, y0 = gt_poly.min(axis=0)
    x1, y1 = gt_poly.max(axis=0)
    gt = make_set({"a": [make_instance(0, gt_poly, "1")]})
    hit = make_set({"a": [make_instance(0, gt_poly + 1.0, "1", 0.9)]})
    boxy = make_set({"a": [make_instance(0, rect(x0, y0, x1, y1), "1", 0.9)]})
    assert evaluate_annotations(gt, hit)["detection"]["recall"] == 1.0
    r = evaluate_annotations(gt, boxy)
    assert r["detection"]["recall"] == 0.0 and r["detection"]["fp"] == 1
    assert r["box_ap"]["mean"] == pytest.approx(1.0)  # the same prediction is a perfect axis-aligned box
