"""The model families, each declared once: its spec, weights format, predictor, settings and trainer.

A record names its parts as "module:attribute" strings, imported only when used, so that
listing families imports neither torch nor the training code (and models/ never imports
training/: the training layer resolves ``settings`` and ``task`` itself). The model registry
(models/registry.py), the training configs (training/config.py) and the trainer
(training/engine.py) all read this table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

PREDICTOR, SPLITTER = "predictor", "splitter"


@dataclass(frozen=True)
class FamilyRecord:
    name: str
    description: str
    role: str  # PREDICTOR: loads as a Predictor; SPLITTER: a stage run after one (``--split-clusters``)
    spec: str | None  # the model spec dataclass (None: the family has several parts)
    weights: str  # the weights file format (a WeightsFormat, or the classifier's checkpoint module)
    predictor: str | None  # factory(manifest, device) -> Predictor (PREDICTOR families)
    settings: str | None  # the trainer's settings dataclass (None: the config's own fields, Mask R-CNN)
    task: str  # the TrainingTask class the one training loop runs

    def load(self, part: str) -> Any:
        """The object a part names (``record.load("predictor")``), imported now."""
        target = getattr(self, part)
        if target is None:
            raise LookupError(f"model family {self.name!r} has no {part}")
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


FAMILY_RECORDS: dict[str, FamilyRecord] = {r.name: r for r in (
    FamilyRecord("classic", "CPU pipeline: learned chromosome detector, crop classifier, joint 24-class assignment",
                 PREDICTOR, None, "karyostudio.models.classic.classifier:CHECKPOINT_FORMAT",
                 "karyostudio.models.classic.pipeline:from_manifest",
                 "karyostudio.training.classifier_settings:ClassifierSettings",
                 "karyostudio.training.classifier_train:ClassifierTask"),
    FamilyRecord("maskrcnn", "Mask R-CNN (baseline, two-stage and alternating training)",
                 PREDICTOR, "karyostudio.models.maskrcnn.spec:MaskRCNNSpec",
                 "karyostudio.models.maskrcnn.weights:WEIGHTS",
                 "karyostudio.models.maskrcnn.predictor:from_manifest",
                 None, "karyostudio.training.maskrcnn_train:MaskRCNNTask"),
    FamilyRecord("centernet", "class-agnostic chromosome centre detector (CenterNet/TTFNet style)",
                 PREDICTOR, "karyostudio.models.centernet.spec:CenterNetSpec",
                 "karyostudio.models.centernet.weights:WEIGHTS",
                 "karyostudio.models.centernet.predictor:from_manifest",
                 "karyostudio.training.centernet_settings:CenterNetSettings",
                 "karyostudio.training.centernet_train:CenterNetTask"),
    FamilyRecord("deepchm", "DeepCHM rotated-anchor chromosome detector",
                 PREDICTOR, "karyostudio.models.deepchm.spec:DeepCHMSpec",
                 "karyostudio.models.deepchm.weights:WEIGHTS",
                 "karyostudio.models.deepchm.predictor:from_manifest",
                 "karyostudio.training.deepchm_settings:DeepCHMSettings",
                 "karyostudio.training.deepchm_train:DeepCHMTask"),
    FamilyRecord("rotated-maskrcnn", "Enhanced Rotated Mask R-CNN",
                 PREDICTOR, "karyostudio.models.ermrcnn.spec:ERMRCNNSpec",
                 "karyostudio.models.ermrcnn.weights:WEIGHTS",
                 "karyostudio.models.ermrcnn.predictor:from_manifest",
                 "karyostudio.training.ermrcnn_settings:ERMRCNNSettings",
                 "karyostudio.training.ermrcnn_train:ERMRCNNTask"),
    FamilyRecord("chromseg", "ChromSeg crossing-overlap splitter (region-guided UNet++)",
                 SPLITTER, "karyostudio.models.overlap.unetpp:UNetPPSpec",
                 "karyostudio.models.overlap.segmenter:WEIGHTS", None,
                 "karyostudio.training.chromseg_settings:ChromSegSettings",
                 "karyostudio.training.chromseg_train:ChromSegTask"),
)}


def family_record(name: str) -> FamilyRecord:
    try:
        return FAMILY_RECORDS[name]
    except KeyError:
        raise LookupError(f"unknown model family {name!r}; families: {', '.join(FAMILY_RECORDS)}") from None
