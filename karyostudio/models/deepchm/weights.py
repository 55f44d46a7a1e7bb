"""DeepCHM weights files: the spec as a plain dict plus a state_dict, nothing pickled.

Files load with ``torch.load(..., weights_only=True)``. Exported files store floating-point
tensors in float16 and are converted back to float32 when loaded (see models.weights_io).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.deepchm.model import DeepCHM
from karyostudio.models.deepchm.spec import DeepCHMSpec, DeepCHMSpecError
from karyostudio.models.weights_io import WeightsFormat

FAMILY = "deepchm"


class DeepCHMWeightsError(ManifestError):
    """A file is not a readable DeepCHM weights file, or its tensors do not fit its spec."""


WEIGHTS = WeightsFormat(family=FAMILY, name="karyostudio-deepchm-weights", kind="a DeepCHM",
                        error=DeepCHMWeightsError, parse_spec=DeepCHMSpec.from_dict,
                        spec_errors=(DeepCHMSpecError,), build=DeepCHM)
save_weights = WEIGHTS.save
read_weights = WEIGHTS.read
load_model = WEIGHTS.load_model


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: DeepCHMSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    return WEIGHTS.export(
        directory, name, state_dict, spec, classes=[], description=description, training_data=training_data,
        metrics=metrics,
        input={"channels": 1, "input_size": spec.input_size, "scaling": "uint8 / 255",
               "resize": "longer side to input_size, padded with the median grey to multiples of 32"},
        extra={"class_agnostic": True, **dict(extra or {})})
