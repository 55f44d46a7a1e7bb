"""COCO-style average precision at one IoU threshold, per class and class-agnostic.

This reproduces pycocotools' COCOeval (evaluate + accumulate) for a single IoU threshold,
area range "all", iscrowd = 0 and maxDets = 100:
  - per image (and per class when classes are used) predictions are sorted by score,
    high to low with ties kept in input order (mergesort), and cut to ``max_dets``.
    pycocotools applies maxDets per (image, category) when categories are used, so a
    per-class evaluation keeps up to 100 predictions of EACH class per image;
  - :func:`karyostudio.metrics.matching.greedy_match` pairs them with ground truth;
  - over all images, predictions of a class are sorted by score again (mergesort over the
    concatenation in image order), precision is made monotone from the right and sampled
    at the 101 recall points 0, 0.01, ..., 1 (searchsorted 'left'; 0 past the last recall);
  - AP of a class is the mean of those 101 values; a class without ground truth has no AP
    (pycocotools' -1) and is left out of the mean (mAP) and listed in ``classes_without_gt``.
Class-agnostic AP is COCOeval with useCats = 0: every prediction may match every GT, and
pycocotools' order of equal scores (by category id, then input order) is kept so ties
resolve the same way; unlabelled instances come after all classes.

The IoU itself is supplied by the caller (axis-aligned boxes, masks or rotated boxes).
evaluate_annotations adds images in sorted-key order, which corresponds to COCO image ids
assigned in that order (equal scores in different images then rank the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from karyostudio.core.classes import CLASS_NAMES, NUM_CLASSES
from karyostudio.metrics.matching import greedy_match, score_order

RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCOeval's recThrs
MAX_DETS = 100
UNLABELLED = -1  # class index of instances without a label


def box_xywh(polygons: list[np.ndarray]) -> np.ndarray:
    """COCO boxes [x, y, w, h] (N x 4) of the axis-aligned bounding boxes of polygons."""
    if not polygons:
        return np.zeros((0, 4))
    lo = np.array([p.min(axis=0) for p in polygons], dtype=np.float64)
    hi = np.array([p.max(axis=0) for p in polygons], dtype=np.float64)
    return np.concatenate([lo, hi - lo], axis=1)


def coco_box_iou(pred_xywh: np.ndarray, gt_xywh: np.ndarray) -> np.ndarray:
    """Box IoU exactly as pycocotools' bbIou (widths used as given, no +1), pred x GT."""
    d = np.asarray(pred_xywh, dtype=np.float64).reshape(-1, 4)[:, None, :]
    g = np.asarray(gt_xywh, dtype=np.float64).reshape(-1, 4)[None, :, :]
    w = np.minimum(d[..., 2] + d[..., 0], g[..., 2] + g[..., 0]) - np.maximum(d[..., 0], g[..., 0])
    h = np.minimum(d[..., 3] + d[..., 1], g[..., 3] + g[..., 1]) - np.maximum(d[..., 1], g[..., 1])
    inter = w * h
    union = d[..., 2] * d[..., 3] + g[..., 2] * g[..., 3] - inter
    ok = (w > 0) & (h > 0)
    return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def interpolated_ap(scores: np.ndarray, matched: np.ndarray, n_gt: int) -> float:
    """COCOeval.accumulate for one class: 101-point interpolated AP of a scored match list."""
    if n_gt <= 0:
        raise ValueError("AP needs at least one ground-truth instance")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    hits = np.asarray(matched, dtype=bool)[order]
    tp = np.cumsum(hits).astype(float)
    fp = np.cumsum(~hits).astype(float)
    n_det = len(tp)
    if n_det == 0:
        return 0.0
    recall = tp / n_gt
    precision = tp / (fp + tp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    sampled = np.where(idx < n_det, precision[np.minimum(idx, n_det - 1)], 0.0)
    return float(sampled.mean())


@dataclass
class APResult:
    per_class: dict[str, float | None]  # class name -> AP (None: no ground truth)
    mean: float | None  # mean over classes with ground truth (None if there is none)
    classes_without_gt: list[str]
    n_gt: dict[str, int]
    n_pred: dict[str, int]  # predictions kept after the max_dets cut

    def to_dict(self) -> dict:
        return {"mean": self.mean, "per_class": self.per_class, "classes_without_gt": self.classes_without_gt,
                "n_gt": self.n_gt, "n_pred": self.n_pred}


@dataclass
class _ImageRecord:
    scores: np.ndarray
    classes: np.ndarray
    matched: np.ndarray
    gt_classes: np.ndarray


@dataclass
class APAccumulator:
    """Collects matches image by image; :meth:`result` gives AP like COCOeval.accumulate.

    Classes are indices 0..23 into CLASS_NAMES, or UNLABELLED (-1). In per-class mode
    (class_agnostic=False) unlabelled instances take part in no class. Images must be added
    in the order pycocotools would see them (ascending image id) for equal scores across
    images to tie-break identically.
    """

    class_agnostic: bool = False
    iou_threshold: float = 0.5
    max_dets: int = MAX_DETS
    _images: list[_ImageRecord] = field(default_factory=list)

    def add_image(self, iou: np.ndarray, pred_scores: np.ndarray, pred_classes: np.ndarray,
                  gt_classes: np.ndarray) -> None:
        """Add one image: ``iou`` is predictions x GT in the given (input) order."""
        scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
        pcls = np.asarray(pred_classes, dtype=np.intp).reshape(-1)
        gcls = np.asarray(gt_classes, dtype=np.intp).reshape(-1)
        iou = np.asarray(iou, dtype=np.float64).reshape(len(scores), len(gcls))
        if self.class_agnostic:
            # COCOeval(useCats=0) concatenates instances category by category.
            gorder = np.argsort(_class_key(gcls), kind="mergesort")
            porder = np.lexsort((np.arange(len(scores)), _class_key(pcls), -scores))
            keep = porder[:self.max_dets]
            iou = iou[np.ix_(keep, gorder)]
            gcls = gcls[gorder]
        else:
            porder = score_order(scores)
            porder = porder[pcls[porder] != UNLABELLED]
            keep = _first_per_class(porder, pcls, self.max_dets)
            gkeep = np.nonzero(gcls != UNLABELLED)[0]
            iou = iou[np.ix_(keep, gkeep)]
            gcls = gcls[gkeep]
            # Matching is per class: pairs of different classes may never match.
            iou = np.where(pcls[keep][:, None] == gcls[None, :], iou, -1.0)
        match = greedy_match(iou, self.iou_threshold)
        self._images.append(_ImageRecord(scores[keep], pcls[keep], match >= 0, gcls))

    def result(self) -> APResult:
        if self._images:
            scores = np.concatenate([r.scores for r in self._images])
            classes = np.concatenate([r.classes for r in self._images])
            matched = np.concatenate([r.matched for r in self._images])
            gt_classes = np.concatenate([r.gt_classes for r in self._images])
        else:
            scores = matched = classes = gt_classes = np.zeros(0)
        names = ("all",) if self.class_agnostic else CLASS_NAMES
        per_class: dict[str, float | None] = {}
        n_gt: dict[str, int] = {}
        n_pred: dict[str, int] = {}
        for k, name in enumerate(names):
            sel = slice(None) if self.class_agnostic else classes == k
            g = len(gt_classes) if self.class_agnostic else int(np.count_nonzero(gt_classes == k))
            s, m = scores[sel], matched[sel].astype(bool)
            n_gt[name], n_pred[name] = int(g), int(len(s))
            per_class[name] = interpolated_ap(s, m, g) if g > 0 else None
        valid = [v for v in per_class.values() if v is not None]
        return APResult(
            per_class=per_class,
            mean=float(np.mean(valid)) if valid else None,
            classes_without_gt=[k for k, v in per_class.items() if v is None],
            n_gt=n_gt, n_pred=n_pred)


def _class_key(classes: np.ndarray) -> np.ndarray:
    """Sort key putting classes in index order and unlabelled instances last."""
    return np.where(classes == UNLABELLED, NUM_CLASSES, classes)


def _first_per_class(order: np.ndarray, classes: np.ndarray, limit: int) -> np.ndarray:
    """The first ``limit`` entries of ``order`` for each class, order preserved."""
    cls = classes[order]
    rank = np.zeros(len(order), dtype=np.intp)
    for c in np.unique(cls):
        where = np.nonzero(cls == c)[0]
        rank[where] = np.arange(len(where))
    return order[rank < limit]
