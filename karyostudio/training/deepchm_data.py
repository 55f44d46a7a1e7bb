"""DeepCHM training data: rotated-detection samples plus DeepCHM's saliency and hardness targets.

Images, rotated boxes and masks come from training/rotated_data.py (same sources, splits,
resizing and augmentation as the other rotated detector). Here the image is padded as at
inference (models/deepchm/image.py) and the target gains "saliency" [3, h, w],
"crossing" [N] and "bend" [N] (training/deepchm_targets.py): from the masks when the sample has
them, else from the rotated boxes.
"""

from __future__ import annotations

import numpy as np
import torch

from karyostudio.models.deepchm.image import pad_image
from karyostudio.models.deepchm.spec import DeepCHMSpec
from karyostudio.training.config import AugmentConfig
from karyostudio.training.deepchm_targets import targets_from_boxes, targets_from_masks
from karyostudio.training.detection_data import Key, SampleSource
from karyostudio.training.rotated_data import RotatedDetectionDataset

# Boxes narrower than this (px of the network input) are left out: no anchor can match them.
MIN_SIDE = 2.0


class DeepCHMDataset:
    """dataset[index] (no augmentation) or dataset[(index, seed_words)] -> (image [1, H, W], target)."""

    def __init__(self, source: SampleSource, spec: DeepCHMSpec, augment_config: AugmentConfig | None = None):
        self.spec = spec
        self.rotated = RotatedDetectionDataset(source, input_size=spec.input_size, augment_config=augment_config)

    def __len__(self) -> int:
        return len(self.rotated)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        image, target = self.rotated[key]
        return with_deepchm_targets(image, target, self.spec)


def with_deepchm_targets(image: torch.Tensor, target: dict[str, torch.Tensor], spec: DeepCHMSpec
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(padded image, target with saliency/crossing/bend) from a rotated_data (image, target) pair."""
    padded = pad_image(image)
    height, width = padded.shape[-2:]
    boxes = target["rboxes"].double().numpy().reshape(-1, 5)
    keep = np.nonzero(boxes[:, 2] >= MIN_SIDE)[0]
    boxes = boxes[keep]
    masks = target.get("masks")
    if masks is not None and len(keep):
        full = np.zeros((len(keep), height, width), dtype=bool)
        full[:, :masks.shape[1], :masks.shape[2]] = masks.numpy()[keep].astype(bool)
        found = targets_from_masks(full, boxes, spec.feature_stride, spec.sigma2)
    else:
        found = targets_from_boxes(boxes, (height, width), spec.feature_stride, spec.sigma2)
    out = {"rboxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 5),
           "saliency": torch.from_numpy(found.maps), "crossing": torch.from_numpy(found.crossing),
           "bend": torch.from_numpy(found.bend)}
    return padded, out
