"""Network output -> detected boxes: heatmap peaks, the box regressed at each peak, a loose box NMS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import nms

from karyostudio.models.centernet.spec import CenterNetSpec
from karyostudio.models.centernet.targets import decoded_boxes, peaks


@dataclass(frozen=True)
class Detections:
    """Boxes (K x 4, x0 y0 x1 y1 input pixels), scores (K,) and peak locations (K x 2, x y), best first."""

    boxes: np.ndarray
    scores: np.ndarray
    centres: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def scaled(self, factor: float, offset: tuple[float, float] = (0.0, 0.0)) -> "Detections":
        """The detections in another frame: coordinates / factor + offset."""
        shift = np.array([offset[0], offset[1]])
        return Detections(self.boxes / factor + np.tile(shift, 2), self.scores,
                          self.centres / factor + shift)

    @staticmethod
    def concat(parts: list["Detections"]) -> "Detections":
        if not parts:
            return Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 2)))
        return Detections(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]),
                          np.concatenate([p.centres for p in parts]))


def decode(outputs: dict[str, torch.Tensor], spec: CenterNetSpec, score_floor: float | None = None
           ) -> list[Detections]:
    """Per image of the batch, the peaks scoring at least ``score_floor`` (default: the spec's
    threshold), at most spec.max_detections, with peaks whose boxes overlap more than
    spec.box_nms_iou merged into the best one."""
    floor = spec.score_threshold if score_floor is None else score_floor
    probs = peaks(outputs["heatmap"], spec.peak_kernel)
    boxes = decoded_boxes(outputs["box"], spec.stride)
    n, _, h, w = probs.shape
    result = []
    for b in range(n):
        flat = probs[b, 0].reshape(-1)
        count = min(spec.max_detections, int((flat >= floor).sum()))
        scores, index = flat.topk(count) if count else (flat[:0], flat[:0].long())
        found = boxes[b].reshape(4, -1)[:, index].T
        if len(index) > 1:
            keep = nms(found.float(), scores.float(), spec.box_nms_iou)
            found, scores, index = found[keep], scores[keep], index[keep]
        rows, cols = index // w, index % w
        centres = torch.stack([(cols.float() + 0.5) * spec.stride, (rows.float() + 0.5) * spec.stride], 1)
        result.append(Detections(found.detach().cpu().double().numpy(), scores.detach().cpu().double().numpy(),
                                 centres.detach().cpu().double().numpy()))
    return result
