from pathlib import Path

import numpy as np
import pytest
import torch

from karyostudio.core.classes import CLASS_NAMES, class_index
from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.geometry.polygons import box_to_polygon
from karyostudio.io.images import read_image
from karyostudio.models import manifest as manifest_module
from karyostudio.models import registry
from karyostudio.models.classic import pipeline as pipeline_module
from karyostudio.models.classic.assign import assign_karyotype
from karyostudio.models.classic.classifier import BoxReading, CropNet, NetConfig, save_checkpoint
from karyostudio.models.classic.pipeline import (
    ClassicPipeline,
    configure_cpu_threads,
    from_manifest,
    postprocess,
    top_classes,
)
from karyostudio.models.manifest import ManifestError, manifest_for_weights, write_manifest

REAL_WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "default-cpu-classifier.pt"
BUNDLED_SAMPLE = REAL_WEIGHTS.parents[1] / "resources" / "samples" / "taichung_103064.jpg"  # the bundled real cell


def shipped_predictor():
    """The shipped default model (the test is skipped where its weights are not installed)."""
    manifest_path = REAL_WEIGHTS.parent / "default-cpu.manifest.json"
    if not (REAL_WEIGHTS.is_file() and manifest_path.is_file()):
        pytest.skip("default-cpu weights not installed in models/")
    return registry.load_predictor(manifest_path)


def _segments(n_single: int, cluster_at: int | None = None) -> list[Instance]:
    out = []
    for i in range(n_single + (cluster_at is not None)):
        box = (10 * i, 0, 10 * i + 5, 20)
        attrs = {"cluster": i == cluster_at, "rotated_box": [10 * i + 2.5, 10.0, 5.0, 20.0, 0.0]}
        out.append(Instance(i + 1, box_to_polygon(box), source="classic", attributes=attrs))
    return out


def _confident_log_probs(labels: list[str], p: float = 0.9) -> np.ndarray:
    lp = np.full((len(labels), len(CLASS_NAMES)), np.log((1 - p) / (len(CLASS_NAMES) - 1)))
    for r, name in enumerate(labels):
        lp[r, class_index(name)] = np.log(p)
    return lp


class FakeClassifier:
    def __init__(self, log_probs: np.ndarray, on_call=None):
        self._log_probs = log_probs
        self.polygons_seen: list[np.ndarray] = []
        self._on_call = on_call

    def classify_cell(self, image, polygons):
        self.polygons_seen = list(polygons)
        if self._on_call:
            self._on_call()
        return self._log_probs


@pytest.fixture
def fake_segmentation(monkeypatch):
    def install(segments):
        monkeypatch.setattr(pipeline_module, "segment_metaphase",
                            lambda image, *, params=None, progress=None, cancel=None: segments)
    return install


def test_pipeline_names_singles_and_leaves_clusters_unnamed(fake_segmentation):
    segments = _segments(3, cluster_at=1)
    fake_segmentation(segments)
    classifier = FakeClassifier(_confident_log_probs(["1", "X", "Y"]))
    pipe = ClassicPipeline(classifier)
    cell = pipe.predict_cell(np.zeros((30, 50), np.uint8))
    assert len(classifier.polygons_seen) == 3  # the cluster is not classified
    assert all(np.array_equal(p, s.polygon) for p, s in zip(classifier.polygons_seen, [segments[0], *segments[2:]]))
    by_id = {inst.id: inst for inst in cell.instances}
    assert [by_id[i].label for i in (1, 2, 3, 4)] == ["1", None, "X", "Y"]
    cluster = by_id[2]
    assert cluster.score is None and cluster.attributes["cluster"] is True and "top3" not in cluster.attributes
    for inst in cell.instances:
        assert inst.source == "default-cpu"
        assert inst.attributes["rotated_box"] == segments[inst.id - 1].attributes["rotated_box"]
    named = by_id[1]
    assert 0.5 < named.score <= 1.0
    assert named.attributes["top3"][0] == ["1", pytest.approx(0.9, abs=1e-3)]
    assert len(named.attributes["top3"]) == 3
    assert cell.sex_hypothesis == "XY"
    assert cell.karyotype.startswith("3,XY,")  # the cluster is not counted
    assert pipe.predict(np.zeros((30, 50), np.uint8)) == cell.instances


def test_joint_assignment_beats_independent_argmax(fake_segmentation):
    # Three instances prefer "1"; the third is nearly as likely a "2": the cell gets 1, 1, 2.
    lp = _confident_log_probs(["1", "1", "1"], p=0.6)
    lp[2, class_index("2")] = np.log(0.35)
    fake_segmentation(_segments(3))
    labels = [inst.label for inst in ClassicPipeline(FakeClassifier(lp)).predict(np.zeros((5, 5), np.uint8))]
    assert sorted(labels) == ["1", "1", "2"]


def test_progress_rises_to_done_and_cancel_stops_between_stages(fake_segmentation):
    fake_segmentation(_segments(2))
    ticks = []
    ClassicPipeline(FakeClassifier(_confident_log_probs(["1", "2"]))).predict(
        np.zeros((5, 5), np.uint8), progress=lambda d, t, m="": ticks.append((d, t, m)))
    done = [d for d, _, _ in ticks]
    assert done == sorted(done) and ticks[-1][:2] == (100, 100)

    token = CancelToken()
    pipe = ClassicPipeline(FakeClassifier(_confident_log_probs(["1", "2"]), on_call=token.cancel))
    with pytest.raises(Cancelled):
        pipe.predict(np.zeros((5, 5), np.uint8), cancel=token)
    token = CancelToken()
    token.cancel()
    classifier = FakeClassifier(_confident_log_probs(["1", "2"]))
    with pytest.raises(Cancelled):
        ClassicPipeline(classifier).predict(np.zeros((5, 5), np.uint8), cancel=token)
    assert classifier.polygons_seen == []


def test_postprocess_checks_row_counts():
    segments = _segments(2)
    lp = _confident_log_probs(["1", "2", "3"])
    with pytest.raises(ValueError, match="2 single chromosomes but 3"):
        postprocess(segments, lp, assign_karyotype(lp), source="x")


def test_top_classes_are_sorted_probabilities():
    row = np.log(np.array([0.1, 0.6, 0.3] + [0.0] * 21) + 1e-12)
    assert top_classes(row) == [["2", 0.6], ["3", 0.3], ["1", 0.1]]


def test_thread_count_follows_request():
    before = torch.get_num_threads()
    try:
        assert configure_cpu_threads(1) == 1
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def tiny_model(tmp_path, monkeypatch) -> Path:
    """A randomly initialised classifier installed as model "tiny" in a private model folder."""
    monkeypatch.setenv("KARYOSTUDIO_MODELS", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))  # keep the test's thread count
    monkeypatch.setattr(manifest_module, "REPO_MODELS_DIR", tmp_path / "none")
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "tiny.pt", CropNet(NetConfig(widths=(4, 8, 8, 8), hidden=16)))
    write_manifest(manifest_for_weights(tmp_path / "tiny.pt", "tiny", "classic", description="random weights"),
                   tmp_path / "tiny.manifest.json")
    return tmp_path


def test_end_to_end_with_a_tiny_classifier(tiny_model):
    image = np.full((120, 160), 230, np.uint8)
    image[20:80, 20:30] = 40
    image[20:60, 60:68] = 60
    image[90:100, 40:100] = 50
    predictor = registry.load_predictor("tiny")
    assert isinstance(predictor, ClassicPipeline) and predictor.description == "random weights"
    instances = predictor.predict(image)
    assert len(instances) == 3
    assert all(inst.label in CLASS_NAMES and 0 <= inst.score <= 1 and inst.source == "tiny" for inst in instances)
    assert len({inst.label for inst in instances}) >= 2  # at most two copies per class unless strongly supported


def test_bad_settings_or_checkpoint_in_manifest(tiny_model):
    m = manifest_module.read_manifest(tiny_model / "tiny.manifest.json")
    m.extra["segment_params"] = {"no_such_setting": 1}
    with pytest.raises(ManifestError, match="no_such_setting"):
        from_manifest(m)
    m.extra["segment_params"] = {}
    m.extra["box_reading"] = {"scales": [1.0, 5.0]}
    with pytest.raises(ManifestError, match="box reading scales"):
        from_manifest(m)
    m.extra["box_reading"] = {"scales": [1.0, 0.9], "mirrored": "yes"}
    with pytest.raises(ManifestError, match="mirrored"):
        from_manifest(m)
    m.extra["box_reading"] = {"scales": [1.0, 0.9], "mirrored": True}
    assert from_manifest(m).box_reading == BoxReading((1.0, 0.9), mirrored=True)
    (tiny_model / "junk.pt").write_bytes(b"junk")
    junk = write_manifest(manifest_for_weights(tiny_model / "junk.pt", "junk", "classic"),
                          tiny_model / "junk.manifest.json")
    with pytest.raises(ManifestError, match="junk"):
        from_manifest(junk)


@pytest.mark.slow
def test_real_default_model_on_a_taichung_cell(taichung_dir):
    predictor = shipped_predictor()
    image_id = (taichung_dir / "normal.csv").read_text().splitlines()[1].split(",")[0]
    cell = predictor.predict_cell(read_image(taichung_dir / "JEPG" / image_id))
    assert 30 <= len(cell.instances) <= 60
    assert sum(inst.label is not None for inst in cell.instances) >= 30
    assert cell.sex_hypothesis in ("XX", "XY")


# --- with the learned detector ---------------------------------------------------------------------

class FakeDetector:
    """Returns fixed detections (image pixels) at scale 0.5."""

    def __init__(self, boxes, scores):
        from karyostudio.models.centernet.decode import Detections

        boxes = np.asarray(boxes, float)
        self.found = Detections(boxes, np.asarray(scores, float), (boxes[:, :2] + boxes[:, 2:]) / 2)

    def detect(self, image, cancel=None, score_floor=None):
        from karyostudio.models.centernet.detector import DetectorResult

        return DetectorResult(self.found, 0.5, 1)


class FakeBoxClassifier:
    def __init__(self, log_probs, reject):
        self._log_probs, self._reject, self.boxes_seen = log_probs, np.asarray(reject, float), []

    def read_boxes(self, image, boxes, reading=None):
        self.boxes_seen, self.reading = [list(b) for b in boxes], reading
        return self._log_probs, self._reject


def _bars_image(boxes):
    image = np.full((120, 200), 230, np.uint8)
    for x0, y0, x1, y1 in boxes:
        image[y0 + 2:y1 - 2, x0 + 2:x1 - 2] = 40
    return image


def test_detector_path_drops_rejected_detections_and_scores_both_doubts():
    boxes = [(10, 10, 30, 90), (50, 10, 70, 90), (90, 20, 110, 60), (140, 30, 160, 50)]
    image = _bars_image(boxes)
    detector = FakeDetector(boxes, [0.9, 0.8, 0.7, 0.6])
    classifier = FakeBoxClassifier(_confident_log_probs(["1", "1", "21", "21"], p=0.95), [0.01, 0.02, 0.1, 0.9])
    reading = BoxReading((1.0, 0.9))
    cell = ClassicPipeline(classifier, detector=detector, box_reading=reading).predict_cell(image)
    assert classifier.boxes_seen == [list(map(float, b)) for b in boxes]  # read from the detector's boxes
    assert classifier.reading == reading
    assert len(cell.instances) == 3  # the fourth was called no chromosome
    assert [i.label for i in cell.instances] == ["1", "1", "21"]
    for inst, det_score in zip(cell.instances, [0.9, 0.8, 0.7]):
        assert inst.attributes["detection_score"] == pytest.approx(det_score)
        assert inst.score <= det_score  # P(chromosome) x P(class)
        x0, y0, x1, y1 = inst.attributes["box"]
        px, py = inst.polygon[:, 0], inst.polygon[:, 1]
        assert px.min() >= x0 and px.max() <= x1 and py.min() >= y0 and py.max() <= y1
    assert cell.instances[0].attributes["outline"] == "mask"


def test_default_manifest_names_a_detector_that_loads(tmp_path):
    manifest = manifest_module.read_manifest(REAL_WEIGHTS.parent / "default-cpu.manifest.json")
    predictor = from_manifest(manifest)
    assert predictor.detector is not None and predictor.classifier.can_reject
    damaged = tmp_path / "m"
    damaged.mkdir()
    for name in ("default-cpu-classifier.pt", "default-cpu-detector.pt"):
        (damaged / name).write_bytes((REAL_WEIGHTS.parent / name).read_bytes())
    (damaged / "default-cpu-detector.pt").write_bytes(b"not the detector")
    copy = manifest_module.Manifest(**{**manifest.__dict__, "path": None})
    write_manifest(copy, damaged / "default-cpu.manifest.json")
    with pytest.raises(ManifestError, match="detector weights .* do not match"):
        from_manifest(manifest_module.read_manifest(damaged / "default-cpu.manifest.json"))


@pytest.mark.slow
def test_real_cell_enlarged_three_times_is_named_as_recorded():
    """A high-resolution camera's cell is read from a shrunk copy (classifier.reading_scale) and
    names its chromosomes as the same cell at the training cells' size does."""
    import cv2

    from karyostudio.models.classic.classifier import reading_scale

    predictor = shipped_predictor()
    image = read_image(BUNDLED_SAMPLE)
    boxes = predictor.detector.detect(image).detections.boxes
    assert len(boxes) >= 40
    enlarged = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    assert reading_scale(3 * boxes) < 1.0 and reading_scale(boxes) == 1.0
    recorded, _ = predictor.read_detections(image, list(boxes))
    large, _ = predictor.read_detections(enlarged, list(3 * boxes))
    same = np.mean(recorded.argmax(1) == large.argmax(1))
    assert same >= 0.9, f"only {same:.0%} of the chromosomes keep their name at 3x"


@pytest.mark.slow
def test_a_floating_point_tiff_of_a_real_cell_is_karyotyped_as_the_recorded_one(tmp_path):
    """ImageJ's 32-bit images: unit-range or arbitrary-range float data reads as the same cell."""
    import tifffile

    predictor = shipped_predictor()
    image = read_image(BUNDLED_SAMPLE)
    recorded = predictor.predict_cell(image)
    tifffile.imwrite(tmp_path / "unit.tif", image.astype(np.float32) / 255.0)
    tifffile.imwrite(tmp_path / "offset.tif", image.astype(np.float32) * 3.7 - 100.0)
    for name in ("unit.tif", "offset.tif"):
        cell = predictor.predict_cell(read_image(tmp_path / name))
        assert sorted(i.label for i in cell.instances) == sorted(i.label for i in recorded.instances)
        assert cell.sex_hypothesis == recorded.sex_hypothesis
