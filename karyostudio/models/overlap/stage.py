"""SplittingPredictor: any predictor followed by ChromSeg cluster splitting.

    predictor = with_splitter(load_predictor("default-cpu"), "chromseg-cpu")
    instances = predictor.predict(image, progress=..., cancel=...)

It runs the wrapped predictor, picks the outlines that may hold several chromosomes
(karyostudio.models.overlap.candidates), splits each with a ClusterSplitter and names the
pieces. Naming reuses the default pipeline's crop classifier and joint assignment: the pieces
are classified with the cell's other single outlines as context (the crop features are
relative to the cell), and the assignment puts them into the slots the rest of the cell left
free, the other outlines' labels held fixed. Outlines whose split was refused stay exactly as
they were, plus ``"split_refused": reason``. Without a classifier the pieces stay unnamed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from karyostudio.core.classes import NUM_CLASSES, class_index
from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, ProgressCallback, check, report
from karyostudio.models.base import Predictor, is_cluster
from karyostudio.models.bright_field import as_bright_field
from karyostudio.models.classic.assign import AssignConfig, assign_karyotype
from karyostudio.models.classic.classifier import ChromosomeClassifier
from karyostudio.models.classic.pipeline import top_classes
from karyostudio.models.overlap.candidates import CandidateRules, find_candidates
from karyostudio.models.overlap.splitter import SPLIT_REFUSED, ClusterSplitter

DEFAULT_SPLITTER = "chromseg-cpu"
# Progress in percent: the wrapped predictor, then splitting, then naming the pieces.
_BASE_SHARE, _SPLIT_SHARE = 70, 25
_LOCKED_OTHER = -50.0  # log-probability of any other class for an outline whose label is kept


class SplittingPredictor:
    """A Predictor (karyostudio.models.base) that splits the clusters of another predictor."""

    def __init__(self, base: Predictor, splitter: ClusterSplitter, classifier: ChromosomeClassifier | None = None, *,
                 rules: CandidateRules = CandidateRules(), assign_config: AssignConfig = AssignConfig()):
        self.base = base
        self.splitter = splitter
        self.classifier = classifier
        self.rules = rules
        self.assign_config = assign_config
        self.name = f"{base.name}+{splitter.name}"
        self.description = f"{base.description}; clusters split by {splitter.name} (ChromSeg crossing-partition)"

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]:
        check(cancel)
        image = as_bright_field(image)  # the splitter reads bright-field cells like the detector

        def base_progress(done: int, total: int, message: str = "") -> None:
            report(progress, _BASE_SHARE * done // max(total, 1), 100, message)

        instances = list(self.base.predict(image, progress=base_progress, cancel=cancel))
        check(cancel)
        candidates = find_candidates(instances, self.rules)
        next_id = max((inst.id for inst in instances), default=0) + 1
        by_id: dict[int, list[Instance]] = {}
        for n, inst in enumerate(i for i in instances if i.id in candidates):
            check(cancel)
            report(progress, _BASE_SHARE + _SPLIT_SHARE * n // len(candidates), 100,
                   f"splitting cluster {n + 1} of {len(candidates)}")
            result = self.splitter.split(image, inst, first_id=next_id)
            if result.ok:
                by_id[inst.id] = [p.with_(source=self.name) for p in result.pieces]
                next_id += len(result.pieces)
            else:
                attributes = dict(inst.attributes)
                attributes[SPLIT_REFUSED] = result.reason
                by_id[inst.id] = [inst.with_(attributes=attributes)]
        check(cancel)
        report(progress, _BASE_SHARE + _SPLIT_SHARE, 100, "naming split chromosomes")
        result = [piece for inst in instances for piece in by_id.get(inst.id, [inst])]
        original_ids = {inst.id for inst in instances}
        pieces = [inst.id for inst in result if inst.id not in original_ids]
        if pieces and self.classifier is not None:
            result = self._name_pieces(image, result, set(pieces))
        report(progress, 100, 100, "done")
        return result

    def _name_pieces(self, image: np.ndarray, instances: list[Instance], pieces: set[int]) -> list[Instance]:
        """Name the pieces with the crop classifier and the joint assignment, other labels fixed."""
        singles = [inst for inst in instances if not is_cluster(inst)]
        log_probs = self.classifier.classify_cell(image, [inst.polygon for inst in singles])
        rows, piece_rows = [], []
        for inst, row in zip(singles, log_probs):
            if inst.id in pieces:
                piece_rows.append(len(rows))
                rows.append(row)
            elif inst.label is not None:
                rows.append(_locked_row(inst.label))
        assignment = assign_karyotype(np.array(rows), config=self.assign_config)
        named: dict[int, Instance] = {}
        piece_list = [inst for inst in singles if inst.id in pieces]
        for inst, r in zip(piece_list, piece_rows):
            label = assignment.labels[r]
            attributes = dict(inst.attributes)
            attributes["top3"] = top_classes(rows[r])
            score = None if label is None else float(np.clip(assignment.confidence[r], 0.0, 1.0))
            named[inst.id] = inst.with_(label=label, score=score, attributes=attributes)
        return [named.get(inst.id, inst) for inst in instances]


def _locked_row(label: str) -> np.ndarray:
    row = np.full(NUM_CLASSES, _LOCKED_OTHER, dtype=np.float64)
    row[class_index(label)] = 0.0
    return row


def load_default_classifier(device: str = "cpu") -> ChromosomeClassifier:
    """The crop classifier of the installed default model (default-cpu)."""
    from karyostudio.models.manifest import WeightsMissingError, find_manifests, read_manifest, verify_weights
    from karyostudio.models.registry import DEFAULT_MODEL

    manifests = find_manifests()
    if DEFAULT_MODEL not in manifests:
        raise WeightsMissingError(None, f"the default model {DEFAULT_MODEL!r}, whose classifier names split "
                                        f"chromosomes, is not installed")
    manifest = read_manifest(manifests[DEFAULT_MODEL])
    return ChromosomeClassifier.load(verify_weights(manifest), device=device)


def with_splitter(predictor: Predictor, splitter_name: str = DEFAULT_SPLITTER, device: str = "cpu", *,
                  classifier: ChromosomeClassifier | None = None) -> SplittingPredictor:
    """``predictor`` followed by cluster splitting with the named ChromSeg segmenter.

    The pieces are named by ``classifier``, else by the predictor's own crop classifier when
    it has one (the default pipeline), else by the default model's. Raises the registry's
    errors (UnknownModelError, ManifestError and subclasses, DeviceUnavailableError) when the
    segmenter or the classifier cannot be loaded.
    """
    from karyostudio.models.overlap.segmenter import load_splitter_model

    segmenter = load_splitter_model(splitter_name, device)
    if classifier is None:
        own = getattr(predictor, "classifier", None)
        classifier = own if isinstance(own, ChromosomeClassifier) else load_default_classifier(device)
    return SplittingPredictor(predictor, ClusterSplitter(segmenter), classifier)


def split_counts(instances: Sequence[Instance]) -> dict[str, int]:
    """How many outlines are split pieces and how many splits were refused (for summaries)."""
    return {"pieces": sum(bool(i.attributes.get("reconstructed")) for i in instances),
            "refused": sum(SPLIT_REFUSED in i.attributes for i in instances)}
