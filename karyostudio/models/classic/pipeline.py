"""The default CPU predictor: classic segmentation -> crop classifier -> joint class assignment.

1. segment_metaphase outlines every chromosome (and flags unsplit clusters);
2. the classifier reads a straightened crop of every single chromosome (cell-relative size
   features included) and gives 24-class log-probabilities;
3. assign_karyotype names all chromosomes of the cell together (two per autosome, XX or XY,
   extra copies only when the evidence is strong), so one cell does not get three "1" and no "2".

Clusters are left unnamed (label None, score None): they hold several chromosomes, so neither a
class nor a confidence would mean anything, and they take no slot in the assignment. They keep
``"cluster": True`` so reviewers find and split them. Every named instance's score is the
assignment's max-marginal confidence; its attributes keep the segmentation's (rotated box,
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
from karyostudio.models.base import is_cluster, prediction_karyotype
from karyostudio.models.classic.assign import AssignConfig, Assignment, assign_karyotype
from karyostudio.models.classic.classifier import CheckpointError, ChromosomeClassifier
from karyostudio.models.classic.segment import SegmentParams, segment_metaphase
from karyostudio.models.manifest import Manifest, ManifestError

DEFAULT_NAME = "default-cpu"
DEFAULT_DESCRIPTION = "CPU pipeline: classic segmentation, crop classifier, joint 24-class assignment"
TOP_K = 3
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
                 assign_config: AssignConfig = AssignConfig()):
        self.classifier = classifier
        self.name = name
        self.description = description
        self.segment_params = segment_params
        self.assign_config = assign_config

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]:
        return self.predict_cell(image, progress=progress, cancel=cancel).instances

    def predict_cell(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                     cancel: CancelToken | None = None) -> CellPrediction:
        check(cancel)

        def segment_progress(done: int, total: int, message: str = "") -> None:
            report(progress, _SEGMENT_SHARE * done // max(total, 1), 100, f"segmenting: {message}")

        segments = segment_metaphase(image, params=self.segment_params, progress=segment_progress, cancel=cancel)
        check(cancel)
        report(progress, _SEGMENT_SHARE, 100, f"classifying {len(segments)} objects")
        singles = [s for s in segments if not is_cluster(s)]
        log_probs = self.classifier.classify_cell(image, [s.polygon for s in singles])
        check(cancel)
        report(progress, _SEGMENT_SHARE + _CLASSIFY_SHARE, 100, "assigning classes")
        assignment = assign_karyotype(log_probs, config=self.assign_config)
        instances = postprocess(segments, log_probs, assignment, source=self.name)
        report(progress, 100, 100, "done")
        return CellPrediction(instances, prediction_karyotype(instances), assignment.sex_hypothesis)


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
        result[k] = segments[k].with_(label=label, source=source, attributes=attributes,
                                      score=None if label is None else float(np.clip(confidence, 0.0, 1.0)))
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


def from_manifest(manifest: Manifest, device: str = "cpu") -> ClassicPipeline:
    """Registry factory: load the classifier named by a (verified) manifest.

    Optional tuning travels in the manifest's extra: "segment_params" (SegmentParams fields)
    and "assign" (AssignConfig fields).
    """
    configure_cpu_threads()
    try:
        segment_params = SegmentParams(**manifest.extra.get("segment_params", {}))
        assign_config = AssignConfig(**manifest.extra.get("assign", {}))
    except TypeError as exc:
        raise ManifestError(manifest.path, f"bad pipeline settings in manifest: {exc}") from None
    try:
        classifier = ChromosomeClassifier.load(manifest.weights_path, device=device)
    except CheckpointError as exc:
        raise ManifestError(manifest.path, f"model {manifest.name!r}: {exc}") from None
    return ClassicPipeline(classifier, name=manifest.name, description=manifest.description or DEFAULT_DESCRIPTION,
                           segment_params=segment_params, assign_config=assign_config)
