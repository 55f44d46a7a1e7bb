"""evaluate_annotations end to end on in-memory annotation sets, and the text report."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from karyostudio.core.classes import AUTOSOMES
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.metrics.evaluate import evaluate_annotations
from karyostudio.metrics.report import format_report

from tests.metrics.helpers import make_instance, make_set, random_blob, rect

NORMAL_46XY = [name for name in AUTOSOMES for _ in range(2)] + ["X", "Y"]


def metaphase(rng: np.random.Generator, labels=NORMAL_46XY, *, box_only: bool = False, score=None):
    """Instances on a 7 x 7 grid; with outlines, every 11th lies across its right-hand neighbour."""
    out = []
    for i, label in enumerate(labels):
        cx, cy = 30 + 55 * (i % 7), 30 + 55 * (i // 7)
        if box_only or i % 11 == 1:
            poly = rect(cx - 8, cy - 22, cx + 8, cy + 22)
        elif i % 11 == 0:
            poly = rect(cx - 5, cy - 4, cx + 60, cy + 4)  # crosses the upright neighbour i + 1
        else:
            poly = random_blob(rng, cx, cy, 9, 24, n=9)
        out.append(make_instance(i, poly, label, score, box_only=box_only))
    return out


def test_perfect_predictions_score_one_everywhere():
    rng = np.random.default_rng(0)
    gt_images = {f"m{i}": metaphase(rng) for i in range(3)}
    gt = make_set(gt_images, (420, 420))
    pred = make_set({k: [inst.with_(score=0.9) for inst in v] for k, v in gt_images.items()}, (420, 420))
    r = evaluate_annotations(gt, pred)
    assert r["masks"] == {"available": True, "reason": None}
    for value in (r["box_ap"]["mean"], r["mask_ap"]["mean"], r["box_ap_class_agnostic"], r["detection"]["ap"]):
        assert value == pytest.approx(1.0)
    seg = r["segmentation"]
    assert seg["aji"] == seg["aji_class_aware"] == seg["pq"] == seg["mpq"] == 1.0
    d = r["detection"]
    assert d["precision"] == d["recall"] == d["f1"] == 1.0 and d["mfps"] == 0.0
    assert r["overlap"]["n_images_with_crossings"] == 3 and r["overlap"]["overall_acc"] == 1.0
    assert r["counts"]["exact_rate"] == 1.0 and r["karyotype"]["accuracy"] == 1.0
    assert all(row["err"] == row["fn"] == row["fp"] == 0 for row in r["per_class"].values())
    assert r["per_class"]["1"]["tp"] == 6
    assert r["box_ap"]["classes_without_gt"] == []


def test_box_only_data_has_no_mask_metrics_and_says_why():
    rng = np.random.default_rng(1)
    gt = make_set({"a": metaphase(rng, box_only=True)})
    pred = make_set({"a": metaphase(rng, box_only=True, score=0.8)})
    r = evaluate_annotations(gt, pred)
    assert r["mask_ap"] is None and r["segmentation"] is None and r["overlap"] is None
    assert not r["masks"]["available"] and "box-only" in r["masks"]["reason"]
    assert r["settings"]["decision_matching_iou"] == "box"
    assert r["box_ap"]["mean"] == pytest.approx(1.0)


def test_image_pairing_modes():
    a = [make_instance(0, rect(0, 0, 10, 30), "1")]
    gt = make_set({"a": a, "b": a, "c": a})
    pred = make_set({"a": [x.with_(score=0.9) for x in a], "z": a})
    matched = evaluate_annotations(gt, pred)
    assert matched["images"] == {"evaluated": 1, "matched": 1, "only_in_gt": 2, "only_in_pred": 1,
                                 "only_in_gt_examples": ["b", "c"], "only_in_pred_examples": ["z"]}
    assert matched["box_ap"]["per_class"]["1"] == pytest.approx(1.0)
    everything = evaluate_annotations(gt, pred, images="gt")
    assert everything["images"]["evaluated"] == 3
    assert everything["detection"]["recall"] == pytest.approx(1 / 3)
    assert everything["counts"]["exact_rate"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        evaluate_annotations(gt, pred, images="all")
    with pytest.raises(ValueError):
        evaluate_annotations(gt, pred, iou_threshold=0.0)


def test_decision_metrics_use_the_score_threshold_but_ap_uses_everything():
    gt = make_set({"a": [make_instance(0, rect(0, 0, 10, 30), "1"), make_instance(1, rect(50, 0, 60, 30), "2")]})
    pred = make_set({"a": [make_instance(0, rect(0, 0, 10, 30), "1", 0.9),
                           make_instance(1, rect(50, 0, 60, 30), "2", 0.2)]})
    r = evaluate_annotations(gt, pred, score_threshold=0.5)
    assert r["box_ap"]["mean"] == pytest.approx(1.0)
    assert r["per_class"]["2"] == {"tp": 0, "err": 0, "fn": 1, "fp": 0}
    assert r["counts"]["mean_error"] == -1.0
    assert evaluate_annotations(gt, pred, score_threshold=0.1)["per_class"]["2"]["tp"] == 1


def test_unscored_predictions_count_as_one_and_unnamed_are_counted():
    gt = make_set({"a": [make_instance(0, rect(0, 0, 10, 30), "1")]})
    pred = make_set({"a": [make_instance(0, rect(0, 0, 10, 30), "1", None),
                           make_instance(1, rect(40, 0, 50, 30), None, 0.95)]})
    r = evaluate_annotations(gt, pred)
    assert r["instances"]["pred_without_score"] == 1 and r["instances"]["pred_unnamed"] == 1
    # The unscored hit ranks first (score 1.0 > 0.95): the class-agnostic AP is perfect.
    assert r["box_ap_class_agnostic"] == pytest.approx(1.0)
    labels = r["confusion"]["labels"]
    assert r["confusion"]["matrix"][labels.index("background")][labels.index("unnamed")] == 1


def test_result_is_strict_json_and_the_report_reads_well():
    rng = np.random.default_rng(2)
    gt = make_set({"a": metaphase(rng), "b": metaphase(rng, NORMAL_46XY[:-1])}, (420, 420))
    pred = make_set({"a": metaphase(rng, score=0.7), "b": metaphase(rng, NORMAL_46XY + ["21"], score=0.7)},
                    (420, 420))
    r = evaluate_annotations(gt, pred)
    assert json.loads(json.dumps(r, allow_nan=False)) == r
    text = format_report(r)
    for needle in ("box mAP@50", "mask mAP@50", "AJI", "mPQ", "mFPs", "mOD", "OverlapAcc", "karyotype",
                   "Confusion matrix", "47,XY,+21"):
        assert needle in text
    assert len(text.splitlines()) > 60
    # Box-only results print too (n/a fields with the reason).
    box = evaluate_annotations(make_set({"a": metaphase(rng, box_only=True)}),
                               make_set({"a": metaphase(rng, box_only=True, score=0.5)}))
    assert "box-only" in format_report(box)


def test_progress_and_cancel():
    gt = make_set({f"k{i}": [make_instance(0, rect(0, 0, 5, 9), "1")] for i in range(4)})
    calls = []
    evaluate_annotations(gt, gt, progress=lambda done, total, msg="": calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        evaluate_annotations(gt, gt, cancel=token)


@pytest.mark.slow
def test_taichung_sized_box_evaluation_is_fast():
    """3744 images x 46 box-only chromosomes: box metrics must take well under a minute."""
    rng = np.random.default_rng(3)
    gt_images, pred_images = {}, {}
    for i in range(3744):
        xy = rng.uniform(0, 900, size=(46, 2))
        wh = rng.uniform([10, 30], [40, 120], size=(46, 2))
        g = [make_instance(j, rect(*xy[j], *(xy[j] + wh[j])), NORMAL_46XY[j], box_only=True) for j in range(46)]
        gt_images[str(i)] = g
        pred_images[str(i)] = [x.with_(polygon=x.polygon + rng.normal(0, 3, (1, 2)), score=float(rng.random()))
                               for x in g]
    gt, pred = make_set(gt_images), make_set(pred_images)
    start = time.perf_counter()
    r = evaluate_annotations(gt, pred)
    elapsed = time.perf_counter() - start
    assert r["images"]["evaluated"] == 3744 and r["instances"]["gt"] == 3744 * 46
    assert 0.5 < r["box_ap"]["mean"] < 1.0
    assert elapsed < 60, f"evaluation took {elapsed:.1f} s"
