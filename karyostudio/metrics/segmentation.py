"""Instance segmentation quality: AJI (aggregated Jaccard index) and PQ / mPQ (panoptic quality).

The AutoKary2022 benchmark (You et al., ICME 2023, Table III) reports mAP@50, mPQ and AJI
without formulas; karyostudio uses the standard definitions below. Matrices are indexed
(prediction, ground truth) as everywhere in karyostudio.metrics; pixel counts come from
karyostudio.metrics.masks.

AJI (Kumar et al., IEEE TMI 2017), in the form of HoVer-Net's ``get_fast_aji``:
  for every GT instance G_i take the prediction S_j with the highest IoU (the first on ties);
  if that IoU is > 0 add |G_i & S_j| to C and |G_i | S_j| to U and mark S_j used, otherwise
  add |G_i| to U; finally add the area of every unused prediction to U. AJI = C / U.
  A prediction may serve several GT instances. Undefined (None) when U = 0 (no GT, no
  prediction). Class-agnostic. ``aji_class_aware`` applies the same rule with the IoU of
  pairs of different classes set to 0 (unlabelled predictions pair with nothing), i.e. a
  prediction only counts for a GT instance of its own class, so misclassification lowers it.
  Per dataset we report the mean of per-image AJI (images where it is defined) and the
  pooled value sum(C) / sum(U) over all images.

PQ (Kirillov et al., CVPR 2019; COCO panopticapi): a prediction and a GT instance match
when IoU > 0.5 (pairs taken one-to-one in descending IoU, so overlapping chromosomes cannot
be matched twice). Over the whole dataset, PQ = sum(IoU of matches) / (TP + FP/2 + FN/2)
= SQ x RQ with SQ = sum(IoU)/TP and RQ = TP / (TP + FP/2 + FN/2). Class-agnostic PQ
ignores labels; per-class PQ matches only within a class; mPQ is the mean of per-class
PQ over classes with TP + FP + FN > 0 (as panopticapi).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.metrics.masks import iou_from_intersections
from karyostudio.metrics.matching import match_by_iou

PQ_IOU = 0.5


def aji_parts(inter: np.ndarray, pred_area: np.ndarray, gt_area: np.ndarray,
              pred_classes: np.ndarray | None = None, gt_classes: np.ndarray | None = None) -> tuple[int, int]:
    """AJI numerator C and denominator U of one image (see module docstring).

    With classes given (integer arrays; -1 = unlabelled) the class-aware variant is computed.
    """
    inter = np.asarray(inter, dtype=np.int64).reshape(len(pred_area), len(gt_area))
    pred_area = np.asarray(pred_area, dtype=np.int64)
    gt_area = np.asarray(gt_area, dtype=np.int64)
    iou = iou_from_intersections(inter, pred_area, gt_area)
    if pred_classes is not None and gt_classes is not None:
        pc, gc = np.asarray(pred_classes), np.asarray(gt_classes)
        iou = np.where((pc[:, None] == gc[None, :]) & (pc[:, None] >= 0), iou, 0.0)
    c = u = 0
    used = np.zeros(len(pred_area), dtype=bool)
    for g in range(len(gt_area)):
        if len(pred_area) and iou[:, g].max() > 0:
            p = int(np.argmax(iou[:, g]))
            c += int(inter[p, g])
            u += int(gt_area[g] + pred_area[p] - inter[p, g])
            used[p] = True
        else:
            u += int(gt_area[g])
    u += int(pred_area[~used].sum())
    return c, u


def aji(gt_masks: list[np.ndarray], pred_masks: list[np.ndarray]) -> float | None:
    """AJI of one image from full-size bool masks (None when there is neither GT nor prediction)."""
    inter = np.array([[np.count_nonzero(p & g) for g in gt_masks] for p in pred_masks],
                     dtype=np.int64).reshape(len(pred_masks), len(gt_masks))
    c, u = aji_parts(inter, np.array([p.sum() for p in pred_masks]), np.array([g.sum() for g in gt_masks]))
    return c / u if u else None


@dataclass
class PQStats:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou_sum: float = 0.0

    def add(self, other: "PQStats") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou_sum += other.iou_sum

    @property
    def defined(self) -> bool:
        return self.tp + self.fp + self.fn > 0

    @property
    def rq(self) -> float | None:
        return self.tp / (self.tp + 0.5 * self.fp + 0.5 * self.fn) if self.defined else None

    @property
    def sq(self) -> float | None:
        if not self.defined:
            return None
        return self.iou_sum / self.tp if self.tp else 0.0

    @property
    def pq(self) -> float | None:
        return self.iou_sum / (self.tp + 0.5 * self.fp + 0.5 * self.fn) if self.defined else None

    def to_dict(self) -> dict:
        return {"pq": self.pq, "sq": self.sq, "rq": self.rq, "tp": self.tp, "fp": self.fp, "fn": self.fn}


def pq_stats(iou: np.ndarray) -> PQStats:
    """TP / FP / FN / summed IoU of one image for one class (or class-agnostic)."""
    iou = np.asarray(iou, dtype=np.float64)
    pairs = match_by_iou(iou, PQ_IOU, strict=True)
    n_pred, n_gt = iou.shape
    return PQStats(tp=len(pairs), fp=n_pred - len(pairs), fn=n_gt - len(pairs),
                   iou_sum=float(sum(iou[p, g] for p, g in pairs)))


@dataclass
class SegmentationAccumulator:
    """AJI and PQ over a dataset, fed one image at a time with intersection counts."""

    _aji: list[tuple[int, int]] = field(default_factory=list)
    _aji_class: list[tuple[int, int]] = field(default_factory=list)
    _pq: PQStats = field(default_factory=PQStats)
    _pq_class: dict[int, PQStats] = field(default_factory=lambda: {k: PQStats() for k in range(len(CLASS_NAMES))})

    def add_image(self, inter: np.ndarray, pred_area: np.ndarray, gt_area: np.ndarray,
                  pred_classes: np.ndarray, gt_classes: np.ndarray) -> None:
        pred_classes, gt_classes = np.asarray(pred_classes), np.asarray(gt_classes)
        self._aji.append(aji_parts(inter, pred_area, gt_area))
        self._aji_class.append(aji_parts(inter, pred_area, gt_area, pred_classes, gt_classes))
        iou = iou_from_intersections(np.asarray(inter).reshape(len(pred_area), len(gt_area)),
                                     np.asarray(pred_area), np.asarray(gt_area))
        self._pq.add(pq_stats(iou))
        for k, stats in self._pq_class.items():
            rows, cols = np.nonzero(pred_classes == k)[0], np.nonzero(gt_classes == k)[0]
            if len(rows) or len(cols):
                stats.add(pq_stats(iou[np.ix_(rows, cols)]))

    def result(self) -> dict:
        per_class = {CLASS_NAMES[k]: s.to_dict() for k, s in self._pq_class.items()}
        defined = [s.pq for s in self._pq_class.values() if s.defined]
        return {
            "aji": _mean_ratio(self._aji),
            "aji_pooled": _pooled_ratio(self._aji),
            "aji_class_aware": _mean_ratio(self._aji_class),
            "aji_class_aware_pooled": _pooled_ratio(self._aji_class),
            "pq": self._pq.pq, "sq": self._pq.sq, "rq": self._pq.rq,
            "pq_counts": {"tp": self._pq.tp, "fp": self._pq.fp, "fn": self._pq.fn},
            "mpq": float(np.mean(defined)) if defined else None,
            "per_class_pq": per_class,
        }


def _mean_ratio(parts: list[tuple[int, int]]) -> float | None:
    values = [c / u for c, u in parts if u > 0]
    return float(np.mean(values)) if values else None


def _pooled_ratio(parts: list[tuple[int, int]]) -> float | None:
    u = sum(u for _, u in parts)
    return sum(c for c, _ in parts) / u if u else None
