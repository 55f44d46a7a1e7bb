"""Decision-level tables: per-class TP/FP/FN/ERR, confusion matrix, counts and karyotypes.

These judge the predictions as a person would see them (after a score threshold), not a
ranking. Predictions are matched class-agnostically to ground truth with
karyostudio.metrics.matching.greedy_match (descending score, best free GT with IoU >=
threshold); then, per class c:
  - TP:  matched pairs whose prediction has the GT's class c;
  - ERR: GT instances of class c matched by a prediction of another class or an unnamed one
         (found but misclassified; counted once, on the GT's class row);
  - FN:  GT instances of class c that no prediction matched (missed);
  - FP:  predictions of class c that matched no GT instance (spurious).
The confusion matrix has rows = GT and columns = prediction over the 24 classes plus
"unnamed" (instances without a label) and "background": a missed GT instance is counted in
column "background", a spurious prediction in row "background".
Count accuracy compares the number of instances per image; karyotype accuracy compares the
ISCN strings (karyostudio.core.karyotype.karyotype_string) of GT and prediction per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from karyostudio.core.classes import CLASS_NAMES, NUM_CLASSES
from karyostudio.core.karyotype import karyotype_string

UNNAMED = "unnamed"
BACKGROUND = "background"
CONFUSION_LABELS: tuple[str, ...] = (*CLASS_NAMES, UNNAMED, BACKGROUND)
_UNNAMED_ROW = NUM_CLASSES
_BACKGROUND_ROW = NUM_CLASSES + 1
MAX_EXAMPLES = 20  # mismatching images listed by name in results


def _confusion_index(label_index: int) -> int:
    return _UNNAMED_ROW if label_index < 0 else int(label_index)


@dataclass
class ClassTableAccumulator:
    """Per-class TP/FP/FN/ERR and the confusion matrix, fed one image at a time."""

    confusion: np.ndarray = field(default_factory=lambda: np.zeros((len(CONFUSION_LABELS),) * 2, dtype=np.int64))

    def add_image(self, match: np.ndarray, pred_classes: np.ndarray, gt_classes: np.ndarray) -> None:
        """``match[i]`` is the GT index of prediction i or -1; classes are indices (-1 = unnamed)."""
        match = np.asarray(match, dtype=np.intp)
        pred_classes, gt_classes = np.asarray(pred_classes), np.asarray(gt_classes)
        found = np.zeros(len(gt_classes), dtype=bool)
        for p, g in enumerate(match):
            col = _confusion_index(pred_classes[p])
            if g >= 0:
                found[g] = True
                self.confusion[_confusion_index(gt_classes[g]), col] += 1
            else:
                self.confusion[_BACKGROUND_ROW, col] += 1
        for g in np.nonzero(~found)[0]:
            self.confusion[_confusion_index(gt_classes[g]), _BACKGROUND_ROW] += 1

    def per_class(self) -> dict[str, dict[str, int]]:
        c = self.confusion
        table = {}
        for k, name in enumerate(CLASS_NAMES):
            matched_row = c[k, :_BACKGROUND_ROW]
            table[name] = {
                "tp": int(c[k, k]),
                "err": int(matched_row.sum() - c[k, k]),
                "fn": int(c[k, _BACKGROUND_ROW]),
                "fp": int(c[_BACKGROUND_ROW, k]),
            }
        return table

    def result(self) -> dict:
        return {"per_class": self.per_class(),
                "confusion": {"labels": list(CONFUSION_LABELS), "rows": "ground truth",
                              "columns": "prediction", "matrix": self.confusion.tolist()}}


@dataclass
class CountAccumulator:
    """Chromosome-count and karyotype agreement per image."""

    _diffs: list[int] = field(default_factory=list)
    _karyotype_ok: list[bool] = field(default_factory=list)
    _karyotype_mismatches: list[dict] = field(default_factory=list)

    def add_image(self, key: str, gt_labels: Sequence[str | None], pred_labels: Sequence[str | None]) -> None:
        self._diffs.append(len(pred_labels) - len(gt_labels))
        gt_k, pred_k = karyotype_string(gt_labels), karyotype_string(pred_labels)
        self._karyotype_ok.append(gt_k == pred_k)
        if gt_k != pred_k and len(self._karyotype_mismatches) < MAX_EXAMPLES:
            self._karyotype_mismatches.append({"image": key, "gt": gt_k, "pred": pred_k})

    def result(self) -> dict:
        d = np.array(self._diffs, dtype=np.float64)
        n = len(d)
        return {
            "counts": {
                "n_images": n,
                "exact_rate": float(np.mean(d == 0)) if n else None,
                "mean_abs_error": float(np.mean(np.abs(d))) if n else None,
                "mean_error": float(np.mean(d)) if n else None,  # > 0: more predicted than true
            },
            "karyotype": {
                "n_images": n,
                "accuracy": float(np.mean(self._karyotype_ok)) if n else None,
                "n_mismatches": int(n - sum(self._karyotype_ok)),
                "mismatch_examples": list(self._karyotype_mismatches),
            },
        }
