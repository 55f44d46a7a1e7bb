"""Compare predicted annotations with ground truth: every karyostudio metric in one JSON-ready dict.

Images are paired by key (image file stem). Which predictions each metric sees:
  - ranking metrics (box / mask mAP@50, class-agnostic AP, DeepCHM AP) use every prediction;
  - DeepCHM precision / recall / F1 / mFPs / mOD pick the score threshold maximising F1, as
    the paper does (the chosen threshold is reported);
  - decision metrics (AJI, PQ / mPQ, ChromSeg overlap metrics, per-class table, confusion,
    count and karyotype accuracy) use predictions with score >= ``score_threshold``.
Predictions without a score count as score 1.0. Mask metrics need real outlines on both
sides; when either side has box-only instances (Pascal VOC, COCO bbox) they are None and
``masks.reason`` says why. Box metrics use axis-aligned boxes of the polygons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from karyostudio.core.annotated_image import AnnotationSet, ImageAnnotations
from karyostudio.core.classes import class_index
from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.geometry.rotated import rotated_iou_matrix
from karyostudio.metrics import masks as mk
from karyostudio.metrics.ap import UNLABELLED, APAccumulator, box_xywh, coco_box_iou
from karyostudio.metrics.detection import DetectionAccumulator, instance_rotated_boxes
from karyostudio.metrics.matching import greedy_match, score_order
from karyostudio.metrics.overlap import OverlapAccumulator
from karyostudio.metrics.segmentation import SegmentationAccumulator
from karyostudio.metrics.tables import MAX_EXAMPLES, ClassTableAccumulator, CountAccumulator

IMAGE_MODES = ("matched", "gt")


@dataclass(frozen=True)
class _Side:
    """The arrays one image contributes from one side (GT or prediction)."""

    instances: list[Instance]
    classes: np.ndarray
    scores: np.ndarray

    @classmethod
    def of(cls, instances: Sequence[Instance]) -> "_Side":
        instances = list(instances)
        classes = np.array([UNLABELLED if i.label is None else class_index(i.label) for i in instances],
                           dtype=np.intp)
        scores = np.array([1.0 if i.score is None else i.score for i in instances], dtype=np.float64)
        return cls(instances, classes, scores)

    def subset(self, index: np.ndarray) -> "_Side":
        return _Side([self.instances[i] for i in index], self.classes[index], self.scores[index])

    @property
    def polygons(self) -> list[np.ndarray]:
        return [i.polygon for i in self.instances]

    @property
    def labels(self) -> list[str | None]:
        return [i.label for i in self.instances]


def evaluate_annotations(gt: AnnotationSet, pred: AnnotationSet, *, iou_threshold: float = 0.5,
                         score_threshold: float = 0.5, images: str = "matched",
                         progress: ProgressCallback | None = None,
                         cancel: CancelToken | None = None) -> dict:
    """Evaluate predictions against ground truth (see the module docstring for what uses what).

    images: "matched" evaluates the images present on both sides; "gt" evaluates every GT
    image, one without predictions counting as predicting nothing. Images with predictions
    but no ground truth are never evaluated; all three groups are counted in ``images``.
    """
    if images not in IMAGE_MODES:
        raise ValueError(f"images must be one of {IMAGE_MODES}, got {images!r}")
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must lie in (0, 1], got {iou_threshold}")
    only_gt = sorted(set(gt) - set(pred))
    only_pred = sorted(set(pred) - set(gt))
    keys = sorted(set(gt) & set(pred)) if images == "matched" else sorted(gt)
    masks_reason = _masks_unavailable([gt[k] for k in keys], [pred[k] for k in keys if k in pred])
    use_masks = masks_reason is None and bool(keys)

    box_ap = APAccumulator(iou_threshold=iou_threshold)
    box_ap_agnostic = APAccumulator(class_agnostic=True, iou_threshold=iou_threshold)
    mask_ap = APAccumulator(iou_threshold=iou_threshold)
    detection = DetectionAccumulator(iou_threshold=iou_threshold)
    segmentation = SegmentationAccumulator()
    overlap = OverlapAccumulator()
    table = ClassTableAccumulator()
    counts = CountAccumulator()
    n_gt = n_pred = n_gt_unnamed = n_pred_unnamed = n_pred_unscored = 0

    for done, key in enumerate(keys):
        check(cancel)
        g_image = gt[key]
        p_image = pred.get(key)
        g = _Side.of(g_image.instances)
        p = _Side.of(p_image.instances if p_image is not None else [])
        n_gt += len(g.instances)
        n_pred += len(p.instances)
        n_gt_unnamed += int(np.count_nonzero(g.classes == UNLABELLED))
        n_pred_unnamed += int(np.count_nonzero(p.classes == UNLABELLED))
        n_pred_unscored += sum(i.score is None for i in p.instances)

        box_iou = coco_box_iou(box_xywh(p.polygons), box_xywh(g.polygons))
        box_ap.add_image(box_iou, p.scores, p.classes, g.classes)
        box_ap_agnostic.add_image(box_iou, p.scores, p.classes, g.classes)
        skew_iou = rotated_iou_matrix(instance_rotated_boxes(p.instances), instance_rotated_boxes(g.instances))
        detection.add_image(skew_iou, p.scores, p.classes, g.classes)

        kept = np.nonzero(p.scores >= score_threshold)[0]
        kept = kept[score_order(p.scores[kept])]
        decision_iou = box_iou[kept]
        if use_masks:
            size = g_image.image_size or (p_image.image_size if p_image is not None else None)
            canvas = mk.canvas_for(size, [g.polygons, p.polygons])
            g_masks, p_masks = mk.rasterize_all(g.polygons, canvas), mk.rasterize_all(p.polygons, canvas)
            inter = mk.intersection_matrix(p_masks, g_masks)
            g_area, p_area = mk.areas(g_masks), mk.areas(p_masks)
            mask_iou = mk.iou_from_intersections(inter, p_area, g_area)
            mask_ap.add_image(mask_iou, p.scores, p.classes, g.classes)
            segmentation.add_image(inter[kept], p_area[kept], g_area, p.classes[kept], g.classes)
            overlap.add_image(g_masks, [p_masks[i] for i in kept], mask_iou[kept])
            decision_iou = mask_iou[kept]
        p_kept = p.subset(kept)
        table.add_image(greedy_match(decision_iou, iou_threshold), p_kept.classes, g.classes)
        counts.add_image(key, g.labels, p_kept.labels)
        report(progress, done + 1, len(keys), key)

    box = box_ap.result()
    result = {
        "settings": {"iou_threshold": iou_threshold, "score_threshold": score_threshold, "images": images,
                     "max_dets": box_ap.max_dets,
                     "decision_matching_iou": "mask" if use_masks else "box"},
        "images": {"evaluated": len(keys), "matched": len(set(gt) & set(pred)),
                   "only_in_gt": len(only_gt), "only_in_pred": len(only_pred),
                   "only_in_gt_examples": only_gt[:MAX_EXAMPLES],
                   "only_in_pred_examples": only_pred[:MAX_EXAMPLES]},
        "instances": {"gt": n_gt, "pred": n_pred, "gt_unnamed": n_gt_unnamed, "pred_unnamed": n_pred_unnamed,
                      "pred_without_score": n_pred_unscored},
        "masks": {"available": use_masks, "reason": masks_reason if keys else "no images to evaluate"},
        "box_ap": box.to_dict(),
        "box_ap_class_agnostic": box_ap_agnostic.result().mean,
        "mask_ap": mask_ap.result().to_dict() if use_masks else None,
        "segmentation": segmentation.result() if use_masks else None,
        "overlap": overlap.result() if use_masks else None,
        "detection": detection.result(),
        **table.result(),
        **counts.result(),
    }
    return _json_ready(result)


def _masks_unavailable(gt_images: list[ImageAnnotations], pred_images: list[ImageAnnotations]) -> str | None:
    """Why mask metrics cannot be computed, or None when both sides have real outlines."""
    for side, group in (("ground truth", gt_images), ("predictions", pred_images)):
        box_only = [im.key for im in group if not im.has_masks]
        if box_only:
            return (f"{side} of {len(box_only)} image(s) (e.g. {box_only[0]!r}) have box-only instances "
                    f"(Pascal VOC or COCO boxes), so mask metrics are not computed")
    return None


def _json_ready(value):
    """Plain Python types only; NaN/inf become None so the dict is strict JSON."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
