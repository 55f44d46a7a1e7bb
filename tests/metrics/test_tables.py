"""Per-class TP/FP/FN/ERR, confusion matrix, count and karyotype accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.core.classes import AUTOSOMES, class_index
from karyostudio.metrics.tables import CONFUSION_LABELS, ClassTableAccumulator, CountAccumulator


def idx(*labels):
    return np.array([-1 if label is None else class_index(label) for label in labels])


def cell(result, gt_label, pred_label):
    labels = result["confusion"]["labels"]
    return result["confusion"]["matrix"][labels.index(gt_label)][labels.index(pred_label)]


def test_table_hand_computed():
    acc = ClassTableAccumulator()
    # GT: 1, 1, 2, 3. Predictions: "1" on GT0 (TP), "3" on GT1 (ERR for 1), unnamed on GT3
    # (ERR for 3), a spurious "X" (FP); GT2 ("2") missed (FN).
    acc.add_image(match=np.array([0, 1, 3, -1]), pred_classes=idx("1", "3", None, "X"),
                  gt_classes=idx("1", "1", "2", "3"))
    r = acc.result()
    t = r["per_class"]
    assert t["1"] == {"tp": 1, "err": 1, "fn": 0, "fp": 0}
    assert t["2"] == {"tp": 0, "err": 0, "fn": 1, "fp": 0}
    assert t["3"] == {"tp": 0, "err": 1, "fn": 0, "fp": 0}  # the "3" on GT "1" is not a FP of class 3
    assert t["X"] == {"tp": 0, "err": 0, "fn": 0, "fp": 1}
    assert cell(r, "1", "1") == 1 and cell(r, "1", "3") == 1
    assert cell(r, "3", "unnamed") == 1
    assert cell(r, "2", "background") == 1 and cell(r, "background", "X") == 1
    assert np.array(r["confusion"]["matrix"]).sum() == 5
    assert len(CONFUSION_LABELS) == 26


def test_unnamed_ground_truth_goes_to_the_unnamed_row():
    acc = ClassTableAccumulator()
    acc.add_image(np.array([0]), idx("5"), idx(None))
    r = acc.result()
    assert cell(r, "unnamed", "5") == 1
    assert all(v == {"tp": 0, "err": 0, "fn": 0, "fp": 0} for v in r["per_class"].values())


def test_counts_and_karyotypes():
    acc = CountAccumulator()
    normal = [name for name in AUTOSOMES for _ in range(2)] + ["X", "Y"]
    acc.add_image("a", normal, normal)                      # exact
    acc.add_image("b", normal, normal + ["21"])             # one extra: 47,XY,+21
    acc.add_image("c", normal, normal[:-1] + ["X"])         # same count, other karyotype: 46,XX
    r = acc.result()
    assert r["counts"]["exact_rate"] == pytest.approx(2 / 3)
    assert r["counts"]["mean_abs_error"] == pytest.approx(1 / 3)
    assert r["counts"]["mean_error"] == pytest.approx(1 / 3)
    assert r["karyotype"]["accuracy"] == pytest.approx(1 / 3)
    assert r["karyotype"]["n_mismatches"] == 2
    assert [m["image"] for m in r["karyotype"]["mismatch_examples"]] == ["b", "c"]
    assert r["karyotype"]["mismatch_examples"][0] == {"image": "b", "gt": "46,XY", "pred": "47,XY,+21"}
    assert r["karyotype"]["mismatch_examples"][1]["pred"] == "46,XX"


def test_empty_count_accumulator():
    r = CountAccumulator().result()
    assert r["counts"]["exact_rate"] is None and r["karyotype"]["accuracy"] is None
