"""The classifier's "no chromosome" output and its training data from a detector and from reviewed files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from karyostudio.io.errors import AnnotationReadError
from karyostudio.models.centernet.net import CenterNet
from karyostudio.models.manifest import read_manifest
from karyostudio.models.registry import load_predictor
from karyostudio.models.centernet.spec import CenterNetSpec
from karyostudio.models.centernet.weights import save_weights
from karyostudio.models.classic.classifier import ChromosomeClassifier, CropNet, NetConfig, save_checkpoint, split_reject
from karyostudio.synth import SynthConfig
from karyostudio.synth.dataset import generate_dataset
from karyostudio.training.classifier_data import REJECT_LABEL, labelme_crops, match_detections
from karyostudio.training.classifier_train import init_weights
from karyostudio.training.engine import fit
from karyostudio.training.errors import TrainingError
from tests.training.test_classifier_data import toy_cells
from tests.training.test_classifier_train import OUT, exported_classifier, tiny_config


def untrained_detector(path, *, max_detections: int, seed: int):
    """A tiny CenterNet's weights at ``path``, untrained: it puts boxes anywhere."""
    spec = CenterNetSpec(widths=(8, 8, 8, 8), blocks=(1, 1, 1, 1), stem_channels=8, fpn_channels=8,
                         head_channels=8, max_detections=max_detections)
    torch.manual_seed(seed)
    save_weights(path, CenterNet(spec).state_dict(), spec)
    return path


def test_match_detections_labels_found_chromosomes_and_false_detections():
    gt = np.array([[0, 0, 10, 40], [50, 0, 60, 40]], float)
    labels = np.array([0, 20])
    boxes = np.array([[1, 1, 10, 40],  # finds chromosome 0
                      [0, 0, 10, 38],  # a second box on chromosome 0: a duplicate
                      [100, 100, 120, 120],  # debris
                      [50, 0, 60, 24]], float)  # chromosome 1 (IoU 0.6: found)
    got = match_detections(boxes, gt, labels)
    assert list(got[:3]) == [0, REJECT_LABEL, REJECT_LABEL] and got[3] == 20
    near = match_detections(np.array([[50, 0, 60, 18]], float), gt, labels)  # IoU 0.45: ambiguous
    assert list(near) == [-1]
    assert list(match_detections(boxes[:1], np.zeros((0, 4)), labels[:0])) == [REJECT_LABEL]


def test_split_reject_renormalises_the_classes():
    probs = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    classes, reject = split_reject(np.log(probs), num_classes=2)
    np.testing.assert_allclose(reject, [0.5, 0.8])
    np.testing.assert_allclose(np.exp(classes), [[0.4, 0.6], [0.5, 0.5]])
    same, none = split_reject(np.log(probs[:, :2] / probs[:, :2].sum(1, keepdims=True)), num_classes=2)
    assert not none.any() and same.shape == (2, 2)


def test_init_weights_keeps_the_classes_and_adds_an_unlikely_reject(tmp_path):
    torch.manual_seed(0)
    config = NetConfig(out_size=OUT, widths=(4, 8), hidden=16)
    old = CropNet(config)
    old.eval()
    path = tmp_path / "old.pt"
    save_checkpoint(path, old)
    new = CropNet(NetConfig(out_size=OUT, widths=(4, 8), hidden=16, reject=True))
    init_weights(new, path)
    before, after = ChromosomeClassifier(CropNet(config)), ChromosomeClassifier(new)
    before.net.load_state_dict(ChromosomeClassifier.load(path).net.state_dict())
    crops = np.random.default_rng(0).random((5, *OUT)).astype(np.float32)
    feats = np.zeros((5, 5), np.float32)
    classes, reject = after.read(crops, feats)
    np.testing.assert_allclose(classes, before.log_probs(crops, feats), atol=1e-4)
    assert (reject < 0.05).all() and after.can_reject and not before.can_reject
    with pytest.raises(Exception, match="do not fit"):
        init_weights(CropNet(NetConfig(out_size=OUT, widths=(4, 16), hidden=16)), path)


def test_training_with_a_detector_learns_a_reject_output(tmp_path):
    ids = [f"1000{c}" for c in range(1, 4)] + [f"1001{c}" for c in range(1, 4)]
    toy_cells(tmp_path / "data", ids)
    detector = untrained_detector(tmp_path / "detector.pt", max_detections=20, seed=0)
    config = tiny_config(tmp_path, epochs=2, val_fraction=0.5, detector=str(detector), detector_score_floor=0.0)
    result = fit(config)
    clf = exported_classifier(result)
    assert clf.can_reject
    detected = clf.metrics["validation_detected"]
    assert detected["false_detections"] > 0 and 0.0 <= detected["reject_recall"] <= 1.0
    # The detector's crops of the training cells joined the training crops.
    assert clf.metrics["data"]["train_crops"] > 12
    # The export is a complete model: the detector it was trained with is copied beside the classifier.
    manifest = read_manifest(result.manifest)
    copy = manifest.weights_path.parent / manifest.extra["detector"]["weights"]
    assert copy.read_bytes() == detector.read_bytes()
    assert load_predictor(result.manifest).detector is not None
    log_probs, reject = clf.read_boxes(np.full((100, 140), 200, np.uint8), [(10, 10, 22, 90)])
    assert log_probs.shape == (1, 24) and reject.shape == (1,)


def test_reviewed_files_become_training_crops(tmp_path):
    folder = tmp_path / "reviewed"
    generate_dataset(folder, 2, seed=1, config=SynthConfig(size=256))
    data = labelme_crops([folder], out_size=OUT)
    assert data is not None and len(data) > 60 and len(data.image_ids) == 2
    assert set(np.unique(data.labels)) <= set(range(24)) and data.crops.max() > 0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AnnotationReadError, match="no annotation files"):
        labelme_crops([empty], out_size=OUT)
    ids = ["10001", "10002", "10011", "10012"]
    toy_cells(tmp_path / "data", ids)
    config = tiny_config(tmp_path, epochs=1, val_fraction=0.5, labelme_dirs=[str(folder)])
    clf = exported_classifier(fit(config))
    assert clf.metrics["data"]["train_crops"] == 8 + len(data)
    with pytest.raises(TrainingError, match="cannot read the reviewed cells"):
        fit(dataclasses.replace(tiny_config(tmp_path, epochs=1, val_fraction=0.5, labelme_dirs=[str(empty)]),
                                out_dir=str(tmp_path / "second-run")))


def test_detector_crops_in_two_processes_match_one(tmp_path):
    from karyostudio.training.classifier_data import build_detector_crops

    ids = ["10001", "10002", "10011"]
    toy_cells(tmp_path / "data", ids)
    detector = untrained_detector(tmp_path / "detector.pt", max_detections=10, seed=1)
    torch.zeros(64, 64) @ torch.zeros(64, 64)  # this process has run torch before the workers start
    one = build_detector_crops(tmp_path / "data", ids, detector, out_size=OUT, score_floor=0.0, workers=1)
    two = build_detector_crops(tmp_path / "data", ids, detector, out_size=OUT, score_floor=0.0, workers=2,
                               cache_dir=tmp_path / "cache")
    assert len(one) > 0 and np.array_equal(one.labels, two.labels) and np.array_equal(one.crops, two.crops)
    cached = build_detector_crops(tmp_path / "data", ids, detector, out_size=OUT, score_floor=0.0,
                                  cache_dir=tmp_path / "cache")
    assert np.array_equal(cached.crops, two.crops)


def test_synthetic_crops_hold_every_chromosome_and_some_cells_have_chromatids_apart(tmp_path):
    from karyostudio.training import classifier_data as cd

    data = cd.build_synth_crops(4, 3, out_size=OUT, cache_dir=tmp_path)
    assert data.image_ids == [f"synth-3-{k}" for k in range(4)]
    per_cell = np.bincount(data.cell)
    assert len(per_cell) == 4 and (per_cell >= 40).all()  # ~46 chromosomes a cell, a few too small to crop
    assert data.labels.min() >= 0 and data.labels.max() < REJECT_LABEL  # chromosomes, with their classes
    gaps = [np.random.default_rng([3, k, 1]).random() < 0.5 for k in range(20)]
    assert any(gaps) and not all(gaps)  # about half the cells open their chromatids
    again = cd.build_synth_crops(4, 3, out_size=OUT, cache_dir=tmp_path)  # from the cache
    assert np.array_equal(again.crops, data.crops)
