"""MaskRCNNPredictor: a loaded Mask R-CNN behind the Predictor protocol (see models/base.py).

Loading goes through a manifest (``from_manifest`` is the registry factory of family
"maskrcnn"); the manifest's ``extra`` may set "score_threshold" and "mask_threshold".
"""

from __future__ import annotations

from karyostudio.models.manifest import Manifest
from karyostudio.models.maskrcnn.detection_predictor import DetectionPredictor
from karyostudio.models.maskrcnn.inference import detect
from karyostudio.models.maskrcnn.postprocess import raw_to_instances
from karyostudio.models.maskrcnn.spec import MaskRCNNSpec
from karyostudio.models.maskrcnn.weights import load_model


class MaskRCNNPredictor(DetectionPredictor):
    """Mask R-CNN: ``MaskRCNNPredictor(model, spec, name=...)`` or ``from_weights`` / ``from_manifest``."""

    _load_model = staticmethod(load_model)
    _detect = staticmethod(detect)
    _raw_to_instances = staticmethod(raw_to_instances)

    @staticmethod
    def default_description(spec: MaskRCNNSpec) -> str:
        return f"Mask R-CNN ({spec.backbone}{', attention FPN' if spec.attention else ''})"


def from_manifest(manifest: Manifest, device: str = "cpu") -> MaskRCNNPredictor:
    """Registry factory: the model whose (verified) weights the manifest names."""
    return MaskRCNNPredictor.from_manifest(manifest, device)
