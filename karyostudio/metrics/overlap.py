"""ChromSeg's crossing-overlap metrics (Cao et al., "ChromSeg", Sec. III.B, Eqs. 3-4).

Region maps. From a set of instance masks: the foreground map is the union of all masks and
the crossing-overlap map is the set of pixels covered by two or more instances (ChromSeg's
"crossing-overlap regions"; its "non-overlap regions" are foreground minus crossing).

Metrics, as the paper defines them:
  - IoU (foreground) and IoU (crossing-overlap): the paper reports the mean IoU over test
    images; we average per-image IoU over the images where the map is non-empty on at least
    one side (an image without any crossing on either side has no crossing IoU).
  - OverlapAcc = N_wd / N and SPAcc = N_ws / N_wd, overall accuracy = OverlapAcc x SPAcc
    (= N_ws / N), where N_wd counts "well-detected" images (stage 1) and N_ws "well-spliced"
    ones (stage 2, among the well-detected).
The paper does not spell out "well detected" / "well spliced" nor N beyond "test images"
(its test images are crops that all contain crossings). karyostudio makes them precise:
  - N: images in which the GT or the prediction has at least one crossing-overlap region
    (images without crossings say nothing about crossing handling and are only counted).
  - well detected: the 8-connected regions of the predicted crossing map correspond one to
    one with those of the GT map: every GT region overlaps exactly one predicted region and
    every predicted region overlaps exactly one GT region (no missed, merged, split or
    spurious crossing).
  - well spliced: every GT chromosome that takes part in a crossing (its mask touches a GT
    crossing region) is reconstructed, i.e. matched one-to-one (pairs in descending IoU) by
    a predicted instance with mask IoU >= ``splice_iou`` (0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import ndimage

from karyostudio.metrics.masks import CroppedMask, bounding_canvas, coverage_count
from karyostudio.metrics.matching import match_by_iou

_EIGHT = np.ones((3, 3), dtype=bool)


def region_maps(masks: Sequence[CroppedMask], canvas: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(foreground, crossing-overlap) bool maps of instance masks on a canvas."""
    count = coverage_count(masks, canvas)
    return count >= 1, count >= 2


def map_iou(gt_map: np.ndarray, pred_map: np.ndarray) -> float | None:
    """Pixel IoU of two bool maps; None when both are empty."""
    union = np.count_nonzero(gt_map | pred_map)
    return np.count_nonzero(gt_map & pred_map) / union if union else None


def regions_correspond(gt_map: np.ndarray, pred_map: np.ndarray) -> bool:
    """True when the 8-connected regions of the two maps pair up one to one by overlap."""
    gl, n_gt = ndimage.label(gt_map, structure=_EIGHT)
    pl, n_pred = ndimage.label(pred_map, structure=_EIGHT)
    if n_gt != n_pred:
        return False
    if n_gt == 0:
        return True
    both = (gl > 0) & (pl > 0)
    pairs = np.unique(np.stack([gl[both], pl[both]], axis=1), axis=0)
    return (len(pairs) == n_gt and len(np.unique(pairs[:, 0])) == n_gt
            and len(np.unique(pairs[:, 1])) == n_pred)


def crossing_instances(masks: Sequence[CroppedMask], crossing: np.ndarray,
                       canvas: tuple[int, int, int, int]) -> list[int]:
    """Indices of instances whose mask touches the crossing map."""
    x0, y0 = canvas[0], canvas[1]
    out = []
    for i, m in enumerate(masks):
        if m.area and np.any(m.mask & crossing[m.y0 - y0:m.y1 - y0, m.x0 - x0:m.x1 - x0]):
            out.append(i)
    return out


def all_reconstructed(iou: np.ndarray, gt_indices: Sequence[int], splice_iou: float = 0.5) -> bool:
    """True when each listed GT instance is matched one-to-one with IoU >= splice_iou (iou: pred x GT)."""
    matched = {g for _, g in match_by_iou(iou, splice_iou, strict=False)}
    return all(g in matched for g in gt_indices)


@dataclass
class OverlapAccumulator:
    splice_iou: float = 0.5
    _fg_iou: list[float] = field(default_factory=list)
    _crossing_iou: list[float] = field(default_factory=list)
    n_images: int = 0
    n_with_crossings: int = 0
    n_well_detected: int = 0
    n_well_spliced: int = 0

    def add_image(self, gt_masks: Sequence[CroppedMask], pred_masks: Sequence[CroppedMask],
                  iou: np.ndarray) -> None:
        """One image: its GT and predicted masks and their IoU matrix (pred x GT)."""
        self.n_images += 1
        canvas = bounding_canvas([*gt_masks, *pred_masks])
        gt_fg, gt_cross = region_maps(gt_masks, canvas)
        pred_fg, pred_cross = region_maps(pred_masks, canvas)
        for values, a, b in ((self._fg_iou, gt_fg, pred_fg), (self._crossing_iou, gt_cross, pred_cross)):
            value = map_iou(a, b)
            if value is not None:
                values.append(value)
        if not gt_cross.any() and not pred_cross.any():
            return
        self.n_with_crossings += 1
        if not regions_correspond(gt_cross, pred_cross):
            return
        self.n_well_detected += 1
        if all_reconstructed(iou, crossing_instances(gt_masks, gt_cross, canvas), self.splice_iou):
            self.n_well_spliced += 1

    def result(self) -> dict:
        n, wd, ws = self.n_with_crossings, self.n_well_detected, self.n_well_spliced
        overlap_acc = wd / n if n else None
        sp_acc = ws / wd if wd else None
        return {
            "iou_foreground": float(np.mean(self._fg_iou)) if self._fg_iou else None,
            "iou_crossing": float(np.mean(self._crossing_iou)) if self._crossing_iou else None,
            "overlap_acc": overlap_acc,
            "sp_acc": sp_acc,
            "overall_acc": ws / n if n else None,
            "n_images": self.n_images, "n_images_with_crossings": n,
            "n_well_detected": wd, "n_well_spliced": ws, "splice_iou": self.splice_iou,
        }
