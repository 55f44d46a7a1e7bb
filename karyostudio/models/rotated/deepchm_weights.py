"""DeepCHM weights files: the spec as a plain dict plus a state_dict, nothing pickled.

Files load with ``torch.load(..., weights_only=True)``. Exported files store floating-point
tensors in float16 and are converted back to float32 when loaded (as Mask R-CNN's do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from karyostudio.models.manifest import Manifest, ManifestError
from karyostudio.models.rotated.deepchm import DeepCHM
from karyostudio.models.rotated.deepchm_spec import DeepCHMSpec, DeepCHMSpecError
from karyostudio.models.weights_io import (
    load_fitting_state,
    read_spec_and_state,
    save_weights_file,
    write_export_manifest,
)

FAMILY = "deepchm"
WEIGHTS_FORMAT = "karyostudio-deepchm-weights"
WEIGHTS_VERSION = 1


class DeepCHMWeightsError(ManifestError):
    """A file is not a readable DeepCHM weights file, or its tensors do not fit its spec."""


def save_weights(path: str | Path, state_dict: Mapping[str, torch.Tensor], spec: DeepCHMSpec, *,
                 half: bool = True) -> Path:
    """Write spec + state_dict atomically (floating-point tensors as float16 when ``half``)."""
    return save_weights_file(path, WEIGHTS_FORMAT, WEIGHTS_VERSION, spec, state_dict, half=half)


def read_weights(path: str | Path) -> tuple[DeepCHMSpec, dict[str, torch.Tensor]]:
    """(spec, float32 state_dict) of a weights file."""
    return read_spec_and_state(Path(path), WEIGHTS_FORMAT, DeepCHMWeightsError, kind="a DeepCHM",
                               parse_spec=DeepCHMSpec.from_dict, spec_errors=(DeepCHMSpecError,),
                               version=WEIGHTS_VERSION)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[DeepCHM, DeepCHMSpec]:
    """The model of a weights file, in eval mode on ``device``."""
    spec, state = read_weights(path)
    return load_fitting_state(DeepCHM(spec), state, Path(path), DeepCHMWeightsError, device), spec


def export_model(directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: DeepCHMSpec, *,
                 description: str = "", training_data: str = "", metrics: Mapping[str, float] | None = None,
                 extra: Mapping[str, object] | None = None) -> Manifest:
    """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the manifest."""
    weights = save_weights(Path(directory) / f"{name}.pt", state_dict, spec, half=True)
    return write_export_manifest(
        weights, name, FAMILY, spec, classes=[], description=description, training_data=training_data,
        metrics=metrics,
        input={"channels": 1, "input_size": spec.input_size, "scaling": "uint8 / 255",
               "resize": "longer side to input_size, padded with the median grey to multiples of 32"},
        extra={"class_agnostic": True, **dict(extra or {})})
