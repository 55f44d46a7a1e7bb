"""Enhanced Rotated Mask R-CNN weights files: the spec as a plain dict plus a state_dict, nothing pickled.

Files load with ``torch.load(..., weights_only=True)``. Exported files store floating-point
tensors in float16 and are converted back to float32 when loaded (see models.weights_io).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.ermrcnn.model import build_ermrcnn
from karyostudio.models.ermrcnn.spec import ERMRCNNSpec, ERMRCNNSpecError
from karyostudio.models.weights_io import WeightsFormat

FAMILY = "rotated-maskrcnn"


class ERMRCNNWeightsError(ManifestError):
    """A file is not a readable Enhanced Rotated Mask R-CNN weights file, or does not fit its spec."""


WEIGHTS = WeightsFormat(family=FAMILY, name="karyostudio-ermrcnn-weights", kind="an Enhanced Rotated Mask R-CNN",
                        error=ERMRCNNWeightsError, parse_spec=ERMRCNNSpec.from_dict,
                        spec_errors=(ERMRCNNSpecError,), build=build_ermrcnn)
save_weights = WEIGHTS.save
read_weights = WEIGHTS.read
load_model = WEIGHTS.load_model


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: ERMRCNNSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    return WEIGHTS.export(
        directory, name, state_dict, spec, description=description or "Enhanced Rotated Mask R-CNN",
        training_data=training_data, metrics=metrics,
        input={"channels": 1, "input_size": spec.input_size, "image_mean": [spec.image_mean],
               "image_std": [spec.image_std],
               "scaling": "uint8 / 255; other integer images percentile-stretched to uint8 first",
               "resize": "longer side to input_size"},
        extra=extra)
