"""AP / mAP@50 against pycocotools' COCOeval on random and adversarial prediction sets."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.metrics.ap import APAccumulator, box_xywh, coco_box_iou, interpolated_ap
from karyostudio.metrics.evaluate import evaluate_annotations

from tests.metrics.helpers import coco_reference, make_instance, make_set, random_blob, rect

pytest.importorskip("pycocotools")

IMAGE_SIZE = (120, 100)  # (w, h)
TOL = 1e-3  # required agreement; in practice the algorithms agree exactly


def adversarial_sets(seed: int, n_images: int = 24, n_classes: int = 6):
    """GT and predictions with duplicates, score ties, wrong classes, empty images, > 100 detections."""
    rng = np.random.default_rng(seed)
    classes = CLASS_NAMES[:n_classes]
    gt, pred = {}, {}
    for i in range(n_images):
        key = f"img{i:03d}"
        g, p = [], []
        n_gt = 0 if i % 7 == 3 else int(rng.integers(1, 10))  # some images without GT
        for j in range(n_gt):
            cx, cy = rng.uniform(-5, 125), rng.uniform(-5, 105)  # some cross the image border
            g.append(make_instance(j, random_blob(rng, cx, cy, rng.uniform(4, 20), rng.uniform(4, 20)),
                                   str(rng.choice(classes))))
        for inst in g:
            for _ in range(int(rng.integers(0, 3))):  # misses, single hits and duplicates
                label = inst.label if rng.random() < 0.75 else str(rng.choice(classes))  # wrong classes
                score = None if rng.random() < 0.05 else float(np.round(rng.random(), 1))  # ties + unscored
                p.append(make_instance(len(p), inst.polygon + rng.normal(0, 1.5, size=(1, 2))
                                       + rng.normal(0, 0.8, size=inst.polygon.shape), label, score))
        for _ in range(int(rng.integers(0, 4))):  # spurious detections, some in classes without GT
            p.append(make_instance(len(p), random_blob(rng, *rng.uniform(0, 100, 2), 8, 8),
                                   str(rng.choice(CLASS_NAMES[:n_classes + 2])), float(np.round(rng.random(), 1))))
        if i % 5 == 4:
            p = []  # images without predictions
        if i == 6:  # far more than 100 detections of one class in one image
            p += [make_instance(len(p) + k, random_blob(rng, *rng.uniform(0, 100, 2), 10, 10), classes[0],
                                float(np.round(rng.random(), 2))) for k in range(130)]
        if i == 8:  # more than 100 detections spread over classes
            p += [make_instance(len(p) + k, random_blob(rng, *rng.uniform(0, 100, 2), 10, 10),
                                str(rng.choice(classes)), float(np.round(rng.random(), 1))) for k in range(120)]
        gt[key], pred[key] = g, p
    return make_set(gt, IMAGE_SIZE), make_set(pred, IMAGE_SIZE)


def assert_agree(ours: dict, ref: dict) -> None:
    assert set(ours) == set(ref)
    for name in ref:
        if ref[name] is None:
            assert ours[name] is None, name
        else:
            assert ours[name] == pytest.approx(ref[name], abs=TOL), name


def mean_of(ref: dict) -> float:
    return float(np.mean([v for v in ref.values() if v is not None]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_map_agrees_with_pycocotools(seed):
    gt, pred = adversarial_sets(seed)
    result = evaluate_annotations(gt, pred)
    ref = coco_reference(gt, pred, "bbox")
    assert_agree(result["box_ap"]["per_class"], ref)
    assert result["box_ap"]["mean"] == pytest.approx(mean_of(ref), abs=TOL)
    assert set(result["box_ap"]["classes_without_gt"]) == {k for k, v in ref.items() if v is None}
    assert result["box_ap_class_agnostic"] == pytest.approx(
        coco_reference(gt, pred, "bbox", use_cats=False)["all"], abs=TOL)


@pytest.mark.parametrize("seed", [0, 3])
def test_mask_map_agrees_with_pycocotools(seed):
    gt, pred = adversarial_sets(seed)
    result = evaluate_annotations(gt, pred)
    ref = coco_reference(gt, pred, "segm")
    assert result["masks"]["available"]
    assert_agree(result["mask_ap"]["per_class"], ref)
    assert result["mask_ap"]["mean"] == pytest.approx(mean_of(ref), abs=TOL)
    # Masks and boxes really differ on these blobs, so the comparison is not vacuous.
    assert result["mask_ap"]["per_class"] != result["box_ap"]["per_class"]


def test_agreement_at_another_iou_threshold():
    gt, pred = adversarial_sets(11)
    result = evaluate_annotations(gt, pred, iou_threshold=0.75)
    assert_agree(result["box_ap"]["per_class"], coco_reference(gt, pred, "bbox", iou_threshold=0.75))


def test_all_predictions_empty_gives_zero_ap():
    gt, _ = adversarial_sets(4)
    pred = make_set({key: [] for key in gt}, IMAGE_SIZE)
    result = evaluate_annotations(gt, pred)
    ref = coco_reference(gt, pred, "bbox")
    assert_agree(result["box_ap"]["per_class"], ref)
    assert result["box_ap"]["mean"] == 0.0


def test_iou_exactly_at_threshold_matches_and_equal_ious_tie_like_pycocotools():
    gt = make_set({
        "a": [make_instance(0, rect(0, 0, 10, 10), "1"), make_instance(1, rect(0, 0, 10, 10), "1"),
              make_instance(2, rect(30, 0, 40, 10), "2")],
        "b": [make_instance(0, rect(0, 0, 10, 10), "2")],
    }, IMAGE_SIZE)
    pred = make_set({
        "a": [make_instance(0, rect(0, 0, 20, 10), "1", 0.9),  # IoU exactly 0.5 with both GT "1"
              make_instance(1, rect(0, 0, 10, 10), "1", 0.9),
              make_instance(2, rect(30, 0, 40, 10), "2", 0.5)],
        "b": [make_instance(0, rect(0, 0, 10, 10), "2", 0.5), make_instance(1, rect(0, 0, 10, 10), "2", 0.5)],
    }, IMAGE_SIZE)
    result = evaluate_annotations(gt, pred)
    ref = coco_reference(gt, pred, "bbox")
    assert_agree(result["box_ap"]["per_class"], ref)
    assert result["box_ap"]["per_class"]["1"] == 1.0  # both GT "1" found: the 0.5 IoU counts


def test_box_iou_uses_widths_as_given():
    # pycocotools has no "+1" pixel convention: [0, 0, 10, 10] vs [5, 0, 10, 10] -> 50 / 150.
    iou = coco_box_iou(np.array([[5, 0, 10, 10]]), np.array([[0, 0, 10, 10], [20, 20, 1, 1]]))
    np.testing.assert_allclose(iou, [[1 / 3, 0.0]])
    np.testing.assert_allclose(box_xywh([rect(2, 3, 7, 11)]), [[2, 3, 5, 8]])


def test_interpolated_ap_hand_computed():
    # Ranked hits T F T with 2 GT: precision envelope 1, 2/3, 2/3 at recalls 0.5, 0.5, 1.
    # 101 recall points: r <= 0.5 (51 points) -> 1; r > 0.5 (50 points) -> 2/3.
    ap = interpolated_ap(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 2)
    assert ap == pytest.approx((51 * 1 + 50 * 2 / 3) / 101)
    assert interpolated_ap(np.array([]), np.array([], dtype=bool), 3) == 0.0
    with pytest.raises(ValueError):
        interpolated_ap(np.array([0.5]), np.array([True]), 0)


def test_accumulator_cuts_to_max_dets_per_class_and_image():
    acc = APAccumulator(max_dets=2)
    # Three predictions of class 0 on one GT: only the two best are kept.
    acc.add_image(np.array([[0.0], [0.0], [1.0]]), np.array([0.9, 0.8, 0.7]), np.array([0, 0, 0]), np.array([0]))
    res = acc.result()
    assert res.n_pred["1"] == 2 and res.per_class["1"] == 0.0
