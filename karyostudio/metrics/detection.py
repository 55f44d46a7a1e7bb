"""DeepCHM's rotated-box detection metrics (class-agnostic chromosome detection).

Definitions follow Wang et al., "DeepCHM" (Sec. IV.D, Eqs. 15-19 and Eq. 11), with
skew-IoU = exact IoU of rotated boxes (karyostudio.geometry.rotated) and threshold 0.5:
  - TP: predicted boxes with skew-IoU >= 0.5 to ANY GT box; FP: predicted boxes with
    skew-IoU < 0.5 to all GT boxes; FN: GT boxes without skew-IoU >= 0.5 to any prediction.
    This is not a one-to-one matching: two predictions on one chromosome are both TP
    (AP below is one-to-one and penalises such duplicates).
  - Precision = TP / (TP + FP), Recall = TP / (TP + FN), F1 = 2PR / (P + R), with counts
    summed over all images.
  - mFPs = FP / number of images (mean false positives per image).
  - mOD = "mean overlap degree" (NOT missed detections): the mean over TP predictions of
    u = max_n IoU(B, G_n) / sum_n IoU(B, G_n) (Eq. 11), 1 when a prediction overlaps only
    its own chromosome and lower the more it also covers neighbours.
  - The paper picks, per detector, the score threshold T_score that maximises F1; we do
    the same when no threshold is given (ties: the highest such threshold) and report it.
  - AP: the paper cites the usual detection AP; we use karyostudio.metrics.ap (COCO 101-point,
    maxDets 100) class-agnostically on skew-IoU >= 0.5.
Instances' rotated boxes are ``attributes["rotated_box"]`` ([cx, cy, w, h, theta] in the
convention of karyostudio.geometry.rotated) when present, else the minimum-area rectangle
of the polygon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.geometry.rotated import min_area_rect, normalize_rotated_boxes
from karyostudio.metrics.ap import APAccumulator

ROTATED_BOX = "rotated_box"


def _raw_rotated_box(inst: Instance) -> tuple[float, ...]:
    given = inst.attributes.get(ROTATED_BOX)
    if given is None:
        return min_area_rect(inst.polygon)
    try:
        box = tuple(float(v) for v in given)
    except (TypeError, ValueError):
        box = ()
    if len(box) != 5 or not all(math.isfinite(v) for v in box) or box[2] < 0 or box[3] < 0:
        raise ValueError(f"instance {inst.id}: {ROTATED_BOX} must be [cx, cy, w, h, theta] with finite "
                         f"values and w, h >= 0, got {given!r}")
    return box


def instance_rotated_boxes(instances: Sequence[Instance]) -> np.ndarray:
    """Normalised rotated boxes (N x 5): ``rotated_box`` attributes, else minAreaRect of the polygons."""
    if not instances:
        return np.zeros((0, 5))
    return normalize_rotated_boxes([_raw_rotated_box(i) for i in instances])


@dataclass
class DetectionAccumulator:
    """Collects per-image skew-IoU matrices (predictions x GT) and gives the DeepCHM metrics."""

    iou_threshold: float = 0.5
    _scores: list[np.ndarray] = field(default_factory=list)
    _is_tp: list[np.ndarray] = field(default_factory=list)
    _degree: list[np.ndarray] = field(default_factory=list)
    _gt_best: list[np.ndarray] = field(default_factory=list)
    _ap: APAccumulator = field(default_factory=lambda: APAccumulator(class_agnostic=True))

    def __post_init__(self) -> None:
        self._ap.iou_threshold = self.iou_threshold

    def add_image(self, iou: np.ndarray, pred_scores: np.ndarray, pred_classes: np.ndarray,
                  gt_classes: np.ndarray) -> None:
        """Classes only order equal scores for AP as pycocotools does; matching ignores them."""
        scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
        iou = np.asarray(iou, dtype=np.float64).reshape(len(scores), len(gt_classes))
        hit = iou >= self.iou_threshold
        best = iou.max(axis=1) if iou.shape[1] else np.zeros(len(scores))
        total = iou.sum(axis=1)
        self._scores.append(scores)
        self._is_tp.append(hit.any(axis=1))
        self._degree.append(np.where(total > 0, best / np.where(total > 0, total, 1.0), 0.0))
        # A GT box is found at threshold t when some prediction scoring >= t hits it.
        self._gt_best.append(np.where(hit, scores[:, None], -np.inf).max(axis=0) if len(scores)
                             else np.full(iou.shape[1], -np.inf))
        self._ap.add_image(iou, scores, pred_classes, gt_classes)

    def result(self, score_threshold: float | None = None) -> dict:
        """Metrics at ``score_threshold``, or at the F1-maximising threshold when None."""
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0)
        is_tp = np.concatenate(self._is_tp) if self._is_tp else np.zeros(0, dtype=bool)
        degree = np.concatenate(self._degree) if self._degree else np.zeros(0)
        gt_best = np.concatenate(self._gt_best) if self._gt_best else np.zeros(0)
        threshold = _best_f1_threshold(scores, is_tp, gt_best) if score_threshold is None else score_threshold
        keep = scores >= threshold if threshold is not None else np.zeros(len(scores), dtype=bool)
        tp = int(np.count_nonzero(keep & is_tp))
        fp = int(np.count_nonzero(keep & ~is_tp))
        fn = int(np.count_nonzero(gt_best < threshold)) if threshold is not None else len(gt_best)
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / (tp + fn) if tp + fn else None
        # 2TP / (2TP + FP + FN) equals 2PR / (P + R) and is 0 (not undefined) when TP = 0.
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
        n_images = len(self._scores)
        return {
            "score_threshold": None if threshold is None else float(threshold),
            "threshold_chosen_by": "max_f1" if score_threshold is None else "given",
            "precision": precision, "recall": recall, "f1": f1,
            "mfps": fp / n_images if n_images else None,
            "mod": float(degree[keep & is_tp].mean()) if tp else None,
            "ap": self._ap.result().mean,
            "tp": tp, "fp": fp, "fn": fn, "n_images": n_images,
        }


def _best_f1_threshold(scores: np.ndarray, is_tp: np.ndarray, gt_best: np.ndarray) -> float | None:
    """The score threshold (one of the scores) with the highest F1 = 2TP / (2TP + FP + FN)."""
    if len(scores) == 0:
        return None
    candidates = np.unique(scores)[::-1]  # high to low
    tp_scores = np.sort(scores[is_tp])
    fp_scores = np.sort(scores[~is_tp])
    found = np.sort(gt_best)
    tp = len(tp_scores) - np.searchsorted(tp_scores, candidates, side="left")
    fp = len(fp_scores) - np.searchsorted(fp_scores, candidates, side="left")
    fn = np.searchsorted(found, candidates, side="left")  # GT whose best hit scores < t
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(candidates[int(np.argmax(f1))])
