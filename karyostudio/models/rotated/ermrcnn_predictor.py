"""ERMRCNNPredictor: a loaded Enhanced Rotated Mask R-CNN behind the Predictor protocol.

``from_manifest`` is the registry factory of family "rotated-maskrcnn"; the manifest's
``extra`` may set "score_threshold" and "mask_threshold". Each detection's m x m mask is pasted
back through its box (inverse rotated warp) at the caller's image resolution, thresholded and
traced (models/rotated/postprocess.instance_from_mask). attributes["rotated_box"] is the
detector's rotated box for rotated detections and the mask's minimum-area box for axis-aligned
ones (whose box says nothing about the chromosome's angle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.maskrcnn.image_prep import as_uint8, resize_long_side
from karyostudio.models.rotated.ermrcnn import EnhancedRotatedMaskRCNN
from karyostudio.models.rotated.ermrcnn_masks import paste_window
from karyostudio.models.rotated.ermrcnn_spec import ERMRCNNSpec
from karyostudio.models.rotated.ermrcnn_weights import load_model
from karyostudio.models.rotated.postprocess import instance_from_mask

DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_MASK_THRESHOLD = 0.5


@torch.no_grad()
def detect(model: EnhancedRotatedMaskRCNN, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Raw detections (see ermrcnn.EnhancedRotatedMaskRCNN) in float32; the model's mode is kept."""
    net = getattr(model, "module", model)
    was_training = net.training
    net.eval()
    try:
        return net(images)
    finally:
        net.train(was_training)


def raw_to_instances(raw: Mapping[str, torch.Tensor], image_shape: tuple[int, int], *, source: str,
                     scale: tuple[float, float] = (1.0, 1.0), score_threshold: float = 0.5,
                     mask_threshold: float = 0.5) -> list[Instance]:
    """Instances in the pixels of an image of ``image_shape``; ``scale`` = network / image pixels."""
    sx, sy = scale
    boxes = raw["rboxes"].detach().float().cpu().clone()
    boxes[:, 0] /= sx
    boxes[:, 1] /= sy
    boxes[:, 2:4] /= (sx + sy) / 2  # the two scales differ only by rounding
    scores = raw["scores"].detach().float().cpu()
    labels = raw["labels"].detach().cpu()
    masks = raw["masks"].detach().float().cpu()
    rotated = raw.get("rotated", torch.ones(len(boxes), dtype=torch.bool)).cpu()
    instances: list[Instance] = []
    for k in torch.argsort(scores, descending=True, stable=True).tolist():
        if float(scores[k]) < score_threshold:
            break
        window = paste_window(masks[k], boxes[k], image_shape)
        if window is None:
            continue
        r0, c0, values = window
        full = np.zeros(image_shape, dtype=bool)
        full[r0:r0 + values.shape[0], c0:c0 + values.shape[1]] = (values >= mask_threshold).numpy()
        box = boxes[k].tolist() if bool(rotated[k]) else None
        inst = instance_from_mask(full, float(scores[k]), int(labels[k]), source, instance_id=len(instances) + 1,
                                  rotated_box=box)
        if inst is not None:
            instances.append(inst)
    return instances


class ERMRCNNPredictor:
    def __init__(self, model: EnhancedRotatedMaskRCNN, spec: ERMRCNNSpec, *, name: str, description: str = "",
                 device: str = "cpu", score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                 mask_threshold: float = DEFAULT_MASK_THRESHOLD):
        self.model = model.to(device).eval()
        self.spec = spec
        self.name = name
        self.description = description or f"Enhanced Rotated Mask R-CNN ({spec.backbone})"
        self.device = torch.device(device)
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold

    @classmethod
    def from_weights(cls, path: str | Path, *, name: str, device: str = "cpu", **options) -> "ERMRCNNPredictor":
        model, spec = load_model(path, device)
        return cls(model, spec, name=name, device=device, **options)

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]:
        check(cancel)
        report(progress, 0, 3, "preparing the image")
        gray = as_uint8(image)
        resized, scale = resize_long_side(gray, self.spec.input_size)
        tensor = torch.from_numpy(np.ascontiguousarray(resized)).to(self.device).float().div_(255.0)[None]
        check(cancel)
        report(progress, 1, 3, "detecting chromosomes")
        raw = detect(self.model, [tensor])[0]
        check(cancel)
        report(progress, 2, 3, "tracing outlines")
        instances = raw_to_instances(raw, gray.shape, source=self.name, scale=scale,
                                     score_threshold=self.score_threshold, mask_threshold=self.mask_threshold)
        report(progress, 3, 3, "done")
        return instances


def from_manifest(manifest: Manifest, device: str = "cpu") -> ERMRCNNPredictor:
    """Registry factory: the model whose (verified) weights the manifest names."""
    extra = manifest.extra or {}
    try:
        score_threshold = float(extra.get("score_threshold", DEFAULT_SCORE_THRESHOLD))
        mask_threshold = float(extra.get("mask_threshold", DEFAULT_MASK_THRESHOLD))
    except (TypeError, ValueError) as exc:
        raise ManifestError(manifest.path, f"bad threshold in manifest: {exc}") from None
    return ERMRCNNPredictor.from_weights(manifest.weights_path, name=manifest.name, description=manifest.description,
                                         device=device, score_threshold=score_threshold, mask_threshold=mask_threshold)
