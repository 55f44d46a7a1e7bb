"""AJI and PQ / mPQ: hand-computed toy cases and an independent AJI implementation."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.metrics import masks as mk
from karyostudio.metrics.segmentation import PQStats, SegmentationAccumulator, aji, aji_parts, pq_stats


def m(rows: list[str]) -> np.ndarray:
    """A bool mask from strings like "11.." ('1' = inside)."""
    return np.array([[c == "1" for c in r] for r in rows])


def reference_aji(gt: list[np.ndarray], pred: list[np.ndarray]) -> float | None:
    """Kumar et al.'s AJI written out directly on full masks (zero-overlap GT add only themselves)."""
    c = u = 0
    used = set()
    for g in gt:
        best, best_iou = None, 0.0
        for j, p in enumerate(pred):
            union = np.logical_or(g, p).sum()
            iou = np.logical_and(g, p).sum() / union if union else 0.0
            if iou > best_iou:
                best, best_iou = j, iou
        if best is None:
            u += g.sum()
        else:
            c += np.logical_and(g, pred[best]).sum()
            u += np.logical_or(g, pred[best]).sum()
            used.add(best)
    u += sum(p.sum() for j, p in enumerate(pred) if j not in used)
    return c / u if u else None


def test_aji_toy_2x2():
    g = m(["11", "11"])
    assert aji([g], [m(["11", ".."])]) == pytest.approx(2 / 4)
    assert aji([g], [g]) == 1.0
    assert aji([g], []) == 0.0  # nothing predicted
    assert aji([], [g]) == 0.0  # only false positives
    assert aji([], []) is None


def test_aji_hand_computed_shared_and_unused_predictions():
    g1 = m(["11..", "11..", "....", "...."])
    g2 = m(["..11", "..11", "....", "...."])
    big = m(["1111", "1111", "....", "...."])  # covers both GT: serves both
    stray = m(["....", "....", "....", "..11"])  # unused: its area joins the union
    # C = 4 + 4; U = |g1 | big| + |g2 | big| + |stray| = 8 + 8 + 2.
    assert aji([g1, g2], [big, stray]) == pytest.approx(8 / 18)


def test_aji_agrees_with_the_direct_implementation_on_random_label_images():
    rng = np.random.default_rng(0)
    for _ in range(30):
        gt = [rng.random((12, 12)) < 0.15 for _ in range(rng.integers(0, 5))]
        pred = [rng.random((12, 12)) < 0.15 for _ in range(rng.integers(0, 5))]
        ours, ref = aji(gt, pred), reference_aji(gt, pred)
        assert (ours is None) == (ref is None)
        if ref is not None:
            assert ours == pytest.approx(ref)


def test_aji_from_cropped_polygon_masks_equals_full_masks():
    rng = np.random.default_rng(1)
    canvas = (0, 0, 40, 30)
    polys = [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
             for x, y, w, h in rng.uniform([0, 0, 3, 3], [35, 25, 15, 15], size=(6, 4))]
    gt, pred = polys[:3], [p + rng.normal(0, 1.5, (1, 2)) for p in polys[:2]] + polys[3:]
    gm, pm = mk.rasterize_all(gt, canvas), mk.rasterize_all(pred, canvas)
    c, u = aji_parts(mk.intersection_matrix(pm, gm), mk.areas(pm), mk.areas(gm))
    full = [mk.coverage_count([x], canvas) > 0 for x in gm], [mk.coverage_count([x], canvas) > 0 for x in pm]
    assert c / u == pytest.approx(reference_aji(*full))


def test_class_aware_aji_ignores_pairs_of_different_classes():
    inter = np.array([[4]])
    area = np.array([4])
    assert aji_parts(inter, area, area) == (4, 4)
    assert aji_parts(inter, area, area, np.array([0]), np.array([0])) == (4, 4)
    # Wrong class: the GT is unmatched (adds 4) and the prediction unused (adds 4).
    assert aji_parts(inter, area, area, np.array([1]), np.array([0])) == (0, 8)
    assert aji_parts(inter, area, area, np.array([-1]), np.array([-1])) == (0, 8)  # unnamed never pairs


def test_pq_hand_computed():
    iou = np.array([[0.75, 0.0], [0.0, 0.4]])  # one match; the 0.4 pair is a FP and a FN
    s = pq_stats(iou)
    assert (s.tp, s.fp, s.fn) == (1, 1, 1)
    assert s.sq == pytest.approx(0.75)
    assert s.rq == pytest.approx(1 / 2)
    assert s.pq == pytest.approx(0.75 / 2)
    assert pq_stats(np.array([[0.5]])).tp == 0  # IoU must exceed 0.5
    assert PQStats().pq is None  # nothing at all: undefined
    assert pq_stats(np.zeros((0, 2))).pq == 0.0  # everything missed


def test_segmentation_accumulator_perfect_and_empty():
    areas = np.array([10, 20])
    perfect = SegmentationAccumulator()
    perfect.add_image(np.diag(areas), areas, areas, np.array([0, 1]), np.array([0, 1]))
    r = perfect.result()
    assert r["aji"] == r["aji_class_aware"] == r["pq"] == r["mpq"] == 1.0
    assert r["per_class_pq"]["3"]["pq"] is None  # classes never seen are undefined

    empty = SegmentationAccumulator()
    empty.add_image(np.zeros((0, 2)), np.zeros(0), areas, np.zeros(0), np.array([0, 1]))
    r = empty.result()
    assert r["aji"] == 0.0 and r["pq"] == 0.0 and r["mpq"] == 0.0


def test_mpq_averages_classes_seen():
    acc = SegmentationAccumulator()
    # Class 0 found perfectly; class 1 predicted as class 2 (a FN for 1 and a FP for 2).
    inter = np.array([[10, 0], [0, 10]])
    areas = np.array([10, 10])
    acc.add_image(inter, areas, areas, np.array([0, 2]), np.array([0, 1]))
    r = acc.result()
    assert r["per_class_pq"]["1"]["pq"] == 1.0
    assert r["per_class_pq"]["2"]["pq"] == 0.0 and r["per_class_pq"]["3"]["pq"] == 0.0
    assert r["mpq"] == pytest.approx(1 / 3)
    assert r["pq"] == 1.0  # class-agnostic: both found
    assert r["aji"] == 1.0 and r["aji_class_aware"] == pytest.approx(10 / 30)
