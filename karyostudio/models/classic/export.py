"""Exporting a trained crop classifier as a complete classic-pipeline model: classifier, detector, manifest.

The folder it writes loads like any installed model (``predict --model FOLDER/NAME.manifest.json``,
the app's Training panel installs it): ``NAME-classifier.pt``, a copy of the detector the
classifier was trained with (``NAME-detector.pt``, named with its sha256 in ``extra.detector``),
and ``NAME.manifest.json``. The detector's score threshold, the assignment's calibration
(``extra.assign``) and how the classifier reads boxes (``extra.box_reading``) come from a template
model, normally the shipped default, whose classifier the new one replaces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.models.classic.classifier import CropNet, save_checkpoint
from karyostudio.models.classic.crops import CROP_VALUES, FEATURE_NAMES
from karyostudio.models.manifest import Manifest, manifest_for_weights, sha256_file, write_manifest


def export_classic_model(directory: str | Path, name: str, net: CropNet, *, temperature: float,
                         checkpoint_metrics: Mapping[str, Any], detector: str | Path | None,
                         template: Manifest | None, description: str, training_data: str,
                         metrics: Mapping[str, float]) -> Manifest:
    """Write the model folder (module docstring); returns its manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    classifier = directory / f"{name}-classifier.pt"
    save_checkpoint(classifier, net, temperature=temperature, metrics=dict(checkpoint_metrics))
    template_extra = dict(template.extra) if template is not None else {}
    extra: dict[str, Any] = {}
    if detector is not None:
        copy = directory / f"{name}-detector.pt"
        atomic_write_bytes(copy, Path(detector).read_bytes())
        extra["detector"] = {"weights": copy.name, "sha256": sha256_file(copy)}
        threshold = (template_extra.get("detector") or {}).get("score_threshold")
        if threshold is not None:
            extra["detector"]["score_threshold"] = threshold
    for calibration in ("assign", "box_reading"):  # the template's, fit for the classifier it ships
        if calibration in template_extra:
            extra[calibration] = dict(template_extra[calibration])
    manifest = manifest_for_weights(
        classifier, name, "classic", description=description, training_data=training_data, metrics=dict(metrics),
        input={"crop_size": list(net.config.out_size), "crop_values": CROP_VALUES, "features": list(FEATURE_NAMES),
               **({"detector_input": template.input["detector_input"]}
                  if template is not None and "detector_input" in template.input else {})},
        extra=extra)
    return write_manifest(manifest, manifest.path)
