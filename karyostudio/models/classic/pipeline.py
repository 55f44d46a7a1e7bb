"""The default CPU predictor: chromosome finding -> crop classifier -> joint class assignment.

1. chromosomes are found either by the learned centre detector (models/centernet: one box and
   one outline traced inside it per chromosome; the default model's way) or by the classic
   segmentation (segment_metaphase: threshold and watershed, which flags unsplit clusters);
2. the classifier reads a straightened crop of every single chromosome (cell-relative size
   features included) and gives 24-class log-probabilities; a detector's box is read at the
   scales of the manifest's extra.box_reading (the default model: as found, 10 % smaller, 12 %
   larger) and the readings averaged, so a box a little off does not decide the reading;
3. assign_karyotype names all chromosomes of the cell together (two per autosome, XX or XY,
   extra copies only when the evidence is strong), so one cell does not get three "1" and no "2".
   With a detector it also decides which detections are chromosomes at all: every detection
   down to a low score floor comes with its presence probability (detector score and the
   classifier's "no chromosome" output, calibrated), and the assignment keeps a doubtful one
   where the cell lacks its class and drops it where it would be an extra copy. One threshold per
   object cannot do this; it missed pale 21s and kept second boxes on chromosome 1.

Clusters are left unnamed (label None, score None): they hold several chromosomes, so neither a
class nor a confidence would mean anything, and they take no slot in the assignment. They keep
``"cluster": True`` so reviewers find and split them. Every named instance's score is the
assignment's max-marginal confidence (times the detector's score, when a detector found the
chromosomes); its attributes keep the segmentation's (rotated box,
cluster flag) plus ``top3``, the classifier's three most probable classes as [name, probability].
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.core.typed_mapping import SettingsError, from_mapping
from karyostudio.io.errors import CheckpointError
from karyostudio.models.base import is_cluster, prediction_karyotype
from karyostudio.models.bright_field import as_bright_field
from karyostudio.models.classic.assign import AssignConfig, Assignment, assign_karyotype, presence_probability
from karyostudio.models.classic.classifier import BoxReading, ChromosomeClassifier
from karyostudio.models.classic.segment import SegmentParams, segment_metaphase
from karyostudio.models.manifest import Manifest, ManifestError, WeightsChecksumError, WeightsMissingError, sha256_file

DEFAULT_NAME = "default-cpu"
DEFAULT_DESCRIPTION = "CPU pipeline: chromosome finding, crop classifier, joint 24-class assignment"
TOP_K = 3
DETECTION_SCORE = "detection_score"  # the detector's confidence that an outline is a chromosome
BOX = "box"  # a detection's box (models/centernet/outlines.py BOX_ATTRIBUTE)
# Progress is reported in percent; segmentation is the slow part.
_SEGMENT_SHARE, _CLASSIFY_SHARE = 60, 30


@dataclass(frozen=True)
class CellPrediction:
    """Everything the pipeline knows about one cell."""

    instances: list[Instance]
    karyotype: str  # ISCN string of the single chromosomes (see models.base.prediction_karyotype)
    sex_hypothesis: str | None  # "XX", "XY", or None when nothing was named


class ClassicPipeline:
    """A Predictor (see karyostudio.models.base) built from a loaded classifier."""

    def __init__(self, classifier: ChromosomeClassifier, *, name: str = DEFAULT_NAME,
                 description: str = DEFAULT_DESCRIPTION, segment_params: SegmentParams | None = None,
                 assign_config: AssignConfig = AssignConfig(), detector: Any = None,
                 box_reading: BoxReading = BoxReading()):
        self.classifier = classifier
        self.detector = detector  # a CenterNetDetector, or None for the classic segmentation
        self.name = name
        self.description = description
        self.segment_params = segment_params
        self.assign_config = assign_config
        self.box_reading = box_reading

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]:
        return self.predict_cell(image, progress=progress, cancel=cancel).instances

    def predict_cell(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                     cancel: CancelToken | None = None) -> CellPrediction:
        check(cancel)
        image = as_bright_field(image)  # a fluorescence or pale image made like the training cells

        def segment_progress(done: int, total: int, message: str = "") -> None:
            report(progress, _SEGMENT_SHARE * done // max(total, 1), 100, f"segmenting: {message}")

        segments = self.find_chromosomes(image, segment_progress, cancel)
        check(cancel)
        report(progress, _SEGMENT_SHARE, 100, f"classifying {len(segments)} objects")
        singles = [s for s in segments if not is_cluster(s)]
        presence = None
        if self.detector is None:
            log_probs = self.classifier.classify_cell(image, [s.polygon for s in singles])
        else:
            # Detections are read from their boxes, as the classifier's training crops were.
            log_probs, reject = self.read_detections(image, [s.attributes[BOX] for s in singles])
            presence = presence_probability(np.array([s.attributes[DETECTION_SCORE] for s in singles]), reject,
                                            self.assign_config)
        check(cancel)
        report(progress, _SEGMENT_SHARE + _CLASSIFY_SHARE, 100, "assigning classes")
        assignment = assign_karyotype(log_probs, presence=presence, config=self.assign_config)
        if presence is not None:
            # Detections the assignment took for no chromosome (debris, nuclei, a second box on one
            # chromosome) go.
            keep = [label is not None for label in assignment.labels]
            segments = [s for s, k in zip(singles, keep) if k]
            log_probs = log_probs[np.array(keep, dtype=bool)]
            assignment = assignment.subset(np.flatnonzero(keep))
        instances = postprocess(segments, log_probs, assignment, source=self.name)
        report(progress, 100, 100, "done")
        return CellPrediction(instances, prediction_karyotype(instances), assignment.sex_hypothesis)

    def read_detections(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        """(log-probabilities N x 24, "no chromosome" probabilities N) of a detector's boxes, read
        as this model's manifest says (extra.box_reading)."""
        return self.classifier.read_boxes(image, boxes, self.box_reading)

    def find_chromosomes(self, image: np.ndarray, progress: ProgressCallback | None,
                         cancel: CancelToken | None) -> list[Instance]:
        """Outlines of the cell's chromosomes (scores are the detector's, when there is one)."""
        if self.detector is None:
            return segment_metaphase(image, params=self.segment_params, progress=progress, cancel=cancel)
        from karyostudio.models.centernet.outlines import edge_width, instances_from_detections

        report(progress, 0, 2, "detecting chromosomes")
        # Down to the assignment's floor: it decides which of the doubtful ones are chromosomes.
        result = self.detector.detect(image, cancel, score_floor=self.assign_config.presence_floor)
        report(progress, 1, 2, f"tracing {len(result.detections)} outlines")
        instances = instances_from_detections(image, result.detections, source=self.name,
                                              edge_px=edge_width(result.scale), cancel=cancel)
        return [i.with_(attributes={**i.attributes, DETECTION_SCORE: i.score}) for i in instances]


def postprocess(segments: Sequence[Instance], log_probs: np.ndarray, assignment: Assignment, *,
                source: str) -> list[Instance]:
    """Named Instances from the segmentation and the assignment of its single chromosomes.

    ``log_probs`` and ``assignment`` rows follow the non-cluster segments in order; clusters
    come back unnamed. This is the one place this family turns raw output into Instances.
    """
    singles = [k for k, s in enumerate(segments) if not is_cluster(s)]
    if len(singles) != len(log_probs) or len(singles) != len(assignment.labels):
        raise ValueError(f"{len(singles)} single chromosomes but {len(log_probs)} classifier rows "
                         f"and {len(assignment.labels)} assigned labels")
    result = [s.with_(label=None, score=None, source=source) for s in segments]
    for row, k in enumerate(singles):
        label = assignment.labels[row]
        confidence = float(assignment.confidence[row])
        attributes = dict(segments[k].attributes)
        attributes["top3"] = top_classes(log_probs[row])
        # With a detector, the score is P(chromosome) x P(this class): both doubts rank it for review.
        detected = attributes.get(DETECTION_SCORE)
        score = float(np.clip(confidence * (1.0 if detected is None else float(detected)), 0.0, 1.0))
        result[k] = segments[k].with_(label=label, source=source, attributes=attributes,
                                      score=None if label is None else score)
    return result


def top_classes(log_prob_row: np.ndarray, k: int = TOP_K) -> list[list[Any]]:
    """The k most probable classes of one row as [[name, probability], ...] (JSON-ready)."""
    probs = np.exp(np.asarray(log_prob_row, dtype=np.float64))
    order = np.argsort(-probs, kind="stable")[:k]
    return [[CLASS_NAMES[i], round(float(probs[i]), 4)] for i in order]


def configure_cpu_threads(num_threads: int | None = None) -> int:
    """Use the CPUs this process may run on (not the machine's total); an explicit
    OMP_NUM_THREADS is left alone. Returns torch's thread count."""
    if num_threads is None and "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    if num_threads is None:
        num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, int(num_threads)))
    return torch.get_num_threads()


def load_manifest_detector(manifest: Manifest, device: str) -> Any:
    """The detector named by the manifest's extra "detector" ({"weights", "sha256",
    "score_threshold"}), checked against its sha256, or None when the manifest names none."""
    entry = (manifest.extra or {}).get("detector")
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("weights"), str) or not isinstance(entry.get("sha256"), str):
        raise ManifestError(manifest.path, "extra.detector must be a mapping with \"weights\" and \"sha256\"")
    from karyostudio.models.centernet.predictor import load_detector, manifest_threshold

    path = manifest.weights_path.parent / entry["weights"]
    if not path.is_file():
        raise WeightsMissingError(manifest.path, f"detector weights {path} of model {manifest.name!r} not found")
    if sha256_file(path).lower() != entry["sha256"].lower():
        raise WeightsChecksumError(manifest.path, f"detector weights {path} do not match the manifest of model "
                                                  f"{manifest.name!r}: the file is damaged or belongs to another model")
    return load_detector(path, device, manifest_threshold(manifest, entry.get("score_threshold")))


def from_manifest(manifest: Manifest, device: str = "cpu") -> ClassicPipeline:
    """Registry factory: load the classifier (and detector, when named) of a (verified) manifest.

    Optional tuning travels in the manifest's extra: "detector" (see load_manifest_detector),
    "segment_params" (SegmentParams fields, classic segmentation), "assign" (AssignConfig fields)
    and "box_reading" (BoxReading fields: how the classifier reads a detector's boxes).
    """
    configure_cpu_threads()
    detector = load_manifest_detector(manifest, device)
    try:
        segment_params = from_mapping(SegmentParams, manifest.extra.get("segment_params", {}), "extra.segment_params")
        assign_config = from_mapping(AssignConfig, manifest.extra.get("assign", {}), "extra.assign")
        box_reading = from_mapping(BoxReading, manifest.extra.get("box_reading", {}), "extra.box_reading")
    except SettingsError as exc:
        raise ManifestError(manifest.path, f"bad pipeline settings in manifest: {exc}") from None
    try:
        classifier = ChromosomeClassifier.load(manifest.weights_path, device=device)
    except CheckpointError as exc:
        raise ManifestError(manifest.path, f"model {manifest.name!r}: {exc}") from None
    return ClassicPipeline(classifier, name=manifest.name, description=manifest.description or DEFAULT_DESCRIPTION,
                           segment_params=segment_params, assign_config=assign_config, detector=detector,
                           box_reading=box_reading)
