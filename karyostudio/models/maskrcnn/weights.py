"""Mask R-CNN weights files: the model spec as a plain dict plus a state_dict, nothing pickled.

Files load with ``torch.load(..., weights_only=True)``. Exported files store floating-point
tensors in float16 (half the size; the precision loss is far below what changes a detection)
and are converted back to float32 when loaded (see models.weights_io).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.maskrcnn.build import build_maskrcnn
from karyostudio.models.maskrcnn.spec import MaskRCNNSpec, SpecError
from karyostudio.models.weights_io import WeightsFormat

FAMILY = "maskrcnn"


class WeightsFileError(ManifestError):
    """A file is not a readable Mask R-CNN weights file, or its tensors do not fit its spec."""


WEIGHTS = WeightsFormat(family=FAMILY, name="karyostudio-maskrcnn-weights", kind="a Mask R-CNN",
                        error=WeightsFileError, parse_spec=MaskRCNNSpec.from_dict, spec_errors=(SpecError,),
                        build=build_maskrcnn)
save_weights = WEIGHTS.save
read_weights = WEIGHTS.read
load_model = WEIGHTS.load_model


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: MaskRCNNSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    return WEIGHTS.export(
        directory, name, state_dict, spec, description=description, training_data=training_data, metrics=metrics,
        input={"channels": 1, "input_size": spec.input_size, "image_mean": [spec.image_mean],
               "image_std": [spec.image_std],
               "scaling": "uint8 / 255; other integer images percentile-stretched to uint8 first",
               "resize": "longer side to input_size"},
        extra=extra)
