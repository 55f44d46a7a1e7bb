"""Centre-detector weights files: the spec as a plain dict plus a state_dict, nothing pickled."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from karyostudio.models.centernet.net import CenterNet
from karyostudio.models.centernet.spec import CenterNetSpec, CenterNetSpecError
from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.weights_io import WeightsFormat

FAMILY = "centernet"


class CenterNetWeightsError(ManifestError):
    """A file is not a readable centre-detector weights file, or its tensors do not fit its spec."""


WEIGHTS = WeightsFormat(family=FAMILY, name="karyostudio-centernet-weights", kind="a chromosome detector",
                        error=CenterNetWeightsError, parse_spec=CenterNetSpec.from_dict,
                        spec_errors=(CenterNetSpecError,), build=CenterNet)
save_weights = WEIGHTS.save
read_weights = WEIGHTS.read
load_model = WEIGHTS.load_model


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: CenterNetSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    return WEIGHTS.export(
        directory, name, state_dict, spec, classes=[], description=description, training_data=training_data,
        metrics=metrics,
        input={"channels": 1, "scaling": "uint8 / 255",
               "resize": f"chromosomes to a median box diagonal of {spec.chromosome_px:g} px, measured on the image"},
        extra={"class_agnostic": True, **dict(extra or {})})
