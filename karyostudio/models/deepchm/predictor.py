"""DeepCHMPredictor: a loaded DeepCHM detector behind the Predictor protocol (see models/base.py).

DeepCHM is class-agnostic: every detection is a chromosome with label None, its score, and
``attributes["rotated_box"]`` in image pixels; the outline is refined on the image by
models/rotated/postprocess.py. ``from_manifest`` is the registry factory of family "deepchm";
the manifest's ``extra`` may set "score_threshold" (else the spec's T_score).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.maskrcnn.image_prep import as_uint8
from karyostudio.models.deepchm.model import DeepCHM, Detections
from karyostudio.models.deepchm.image import prepare
from karyostudio.models.deepchm.spec import DeepCHMSpec
from karyostudio.models.deepchm.weights import load_model
from karyostudio.models.rotated.postprocess import instance_from_rotated_box


def boxes_to_image(boxes: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """Rotated boxes [K, 5] from network-input pixels back to image pixels (uniform scaling)."""
    out = np.array(boxes, dtype=np.float64).reshape(-1, 5)
    factor = 0.5 * (scale[0] + scale[1])  # the two differ only by rounding to whole pixels
    out[:, 0] /= scale[0]
    out[:, 1] /= scale[1]
    out[:, 2:4] /= factor
    return out


class DeepCHMPredictor:
    def __init__(self, model: DeepCHM, *, name: str, description: str = "", device: str = "cpu",
                 score_threshold: float | None = None):
        self.model = model.to(device).eval()
        self.spec: DeepCHMSpec = model.spec
        self.name = name
        self.description = description or f"DeepCHM rotated chromosome detector ({self.spec.backbone})"
        self.device = torch.device(device)
        self.score_threshold = self.spec.score_threshold if score_threshold is None else float(score_threshold)

    @classmethod
    def from_weights(cls, path: str | Path, *, name: str, device: str = "cpu", **options) -> "DeepCHMPredictor":
        model, _ = load_model(path, device)
        return cls(model, name=name, device=device, **options)

    def detect(self, image: np.ndarray) -> tuple[Detections, tuple[float, float]]:
        """Raw detections in network-input pixels and the (x, y) scale image -> input."""
        tensor, scale = prepare(image, self.spec.input_size)
        with torch.inference_mode():
            outputs = self.model(tensor[None].to(self.device))
            found = self.model.detect(outputs, self.score_threshold)[0]
        return found, scale

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]:
        check(cancel)
        report(progress, 0, 3, "preparing the image")
        gray = as_uint8(image)
        check(cancel)
        report(progress, 1, 3, "detecting chromosomes")
        found, scale = self.detect(gray)
        boxes = boxes_to_image(found.boxes.cpu().numpy(), scale)
        scores = found.scores.cpu().numpy()
        check(cancel)
        report(progress, 2, 3, "tracing outlines")
        instances = []
        for k, (box, score) in enumerate(zip(boxes, scores)):
            if k % 16 == 0:
                check(cancel)
            instances.append(instance_from_rotated_box(gray, box, float(score), None, self.name, instance_id=k + 1))
        report(progress, 3, 3, "done")
        return instances


def from_manifest(manifest: Manifest, device: str = "cpu") -> DeepCHMPredictor:
    """Registry factory: the model whose (verified) weights the manifest names."""
    extra = manifest.extra or {}
    try:
        threshold = extra.get("score_threshold")
        threshold = None if threshold is None else float(threshold)
    except (TypeError, ValueError) as exc:
        raise ManifestError(manifest.path, f"bad score_threshold in manifest: {exc}") from None
    return DeepCHMPredictor.from_weights(manifest.weights_path, name=manifest.name, description=manifest.description,
                                         device=device, score_threshold=threshold)
