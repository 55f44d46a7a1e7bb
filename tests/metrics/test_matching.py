"""Matching rules: pycocotools' greedy loop (incl. its tie-breaking) and IoU-ordered one-to-one pairs."""

from __future__ import annotations

import numpy as np

from karyostudio.metrics.matching import greedy_match, match_by_iou, score_order


def coco_loop(ious: np.ndarray, t: float) -> np.ndarray:
    """COCOeval.evaluateImg's matching loop, transcribed (no crowd, no ignored GT)."""
    n_dt, n_gt = ious.shape
    gtm = np.zeros(n_gt)
    out = np.full(n_dt, -1)
    for dind in range(n_dt):
        iou = min([t, 1 - 1e-10])
        m = -1
        for gind in range(n_gt):
            if gtm[gind] > 0:
                continue
            if ious[dind, gind] < iou:
                continue
            iou = ious[dind, gind]
            m = gind
        if m == -1:
            continue
        out[dind] = m
        gtm[m] = dind + 1
    return out


def test_greedy_match_equals_the_pycocotools_loop_with_many_ties():
    rng = np.random.default_rng(0)
    for _ in range(300):
        shape = tuple(rng.integers(0, 8, size=2))
        ious = rng.integers(0, 5, size=shape) / 4.0  # values 0, .25, .5, .75, 1: ties everywhere
        for t in (0.5, 0.75, 1.0):
            np.testing.assert_array_equal(greedy_match(ious, t), coco_loop(ious, t))


def test_greedy_match_prefers_the_last_gt_among_equal_ious():
    ious = np.array([[0.8, 0.8, 0.3], [0.8, 0.8, 0.3]])
    np.testing.assert_array_equal(greedy_match(ious, 0.5), [1, 0])


def test_greedy_match_negative_entries_never_match():
    np.testing.assert_array_equal(greedy_match(np.array([[-1.0, 0.6]]), 0.5), [1])
    np.testing.assert_array_equal(greedy_match(np.array([[-1.0]]), 0.5), [-1])
    assert greedy_match(np.zeros((0, 3)), 0.5).shape == (0,)
    np.testing.assert_array_equal(greedy_match(np.zeros((2, 0)), 0.5), [-1, -1])


def test_score_order_is_stable_for_ties():
    np.testing.assert_array_equal(score_order(np.array([0.5, 0.9, 0.5, 0.9])), [1, 3, 0, 2])


def test_match_by_iou_takes_the_best_pairs_first():
    iou = np.array([[0.6, 0.9], [0.55, 0.7]])
    # (0, 1) has the highest IoU; then row 1 can only take column 0.
    assert match_by_iou(iou, 0.5) == [(0, 1), (1, 0)]
    assert match_by_iou(np.array([[0.5]]), 0.5) == []  # strict by default (panoptic "> 0.5")
    assert match_by_iou(np.array([[0.5]]), 0.5, strict=False) == [(0, 0)]
    # Overlapping instances: one prediction above 0.5 with two GT still gets only one.
    assert match_by_iou(np.array([[0.7, 0.6]]), 0.5) == [(0, 0)]
