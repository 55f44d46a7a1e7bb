"""Chromosome crop classifier: output contract, both-ends reading, checkpoints."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

import karyostudio.models.classic.classifier as classifier_module
from karyostudio.core.classes import CLASS_NAMES
from karyostudio.models.classic.classifier import (
    BoxReading,
    CheckpointError,
    ChromosomeClassifier,
    CropNet,
    NetConfig,
    checkpoint_dict,
    reading_scale,
    scaled_boxes,
)
from karyostudio.models.classic.crops import NUM_FEATURES, box_crops

TINY = NetConfig(out_size=(32, 16), widths=(4, 8), length_bins=2, hidden=16)


def tiny_classifier(seed: int = 0, temperature: float = 1.0, config: NetConfig = TINY) -> ChromosomeClassifier:
    torch.manual_seed(seed)
    net = CropNet(config)
    # Non-trivial batch-norm statistics, so saving/loading them is really exercised.
    net.train()
    with torch.no_grad():
        net(torch.rand(8, 1, 32, 16), torch.randn(8, NUM_FEATURES))
    return ChromosomeClassifier(net, temperature=temperature)


def random_inputs(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 32, 16), dtype=np.float32), rng.normal(size=(n, NUM_FEATURES)).astype(np.float32)


def test_log_probs_contract():
    clf = tiny_classifier()
    crops, feats = random_inputs(5)
    lp = clf.log_probs(crops, feats)
    assert lp.shape == (5, len(CLASS_NAMES)) and lp.dtype == np.float32
    np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, atol=1e-5)
    assert clf.log_probs(crops[:0], feats[:0]).shape == (0, 24)
    with pytest.raises(ValueError):
        clf.log_probs(crops[:, :16], feats)
    with pytest.raises(ValueError):
        clf.log_probs(crops, feats[:, :2])


def test_both_ends_reading_ignores_which_end_is_up():
    clf = tiny_classifier()
    crops, feats = random_inputs(4)
    upside_down = crops[:, ::-1, ::-1].copy()
    np.testing.assert_allclose(clf.log_probs(crops, feats), clf.log_probs(upside_down, feats), atol=1e-5)
    one_end = clf.log_probs(crops, feats, both_ends=False)
    assert not np.allclose(one_end, clf.log_probs(upside_down, feats, both_ends=False), atol=1e-5)


def test_mirrored_reading_averages_a_crop_and_its_mirror_image():
    clf = tiny_classifier(config=replace(TINY, reject=True))
    crops, feats = random_inputs(4)
    mirror = crops[:, :, ::-1].copy()
    both, both_reject = clf.read(crops, feats, mirrored=True)
    np.testing.assert_allclose(both, clf.read(mirror, feats, mirrored=True)[0], atol=1e-5)
    # the mean of the plain reads' probabilities (each of them both ends), renormalised per output
    plain = [clf.read(c, feats) for c in (crops, mirror)]
    outputs = np.mean([np.c_[np.exp(lp) * (1 - rj)[:, None], rj] for lp, rj in plain], axis=0)
    np.testing.assert_allclose(both_reject, outputs[:, 24], atol=1e-5)
    np.testing.assert_allclose(np.exp(both), outputs[:, :24] / outputs[:, :24].sum(1, keepdims=True), atol=1e-5)
    assert not np.allclose(plain[0][0], plain[1][0], atol=1e-4)  # the mirror image does read differently


def test_many_crops_are_read_in_bounded_batches_with_the_same_result(monkeypatch):
    clf = tiny_classifier(config=replace(TINY, reject=True))
    crops, feats = random_inputs(classifier_module.READ_CHUNK + 5)
    batches = []
    real_end_logits = classifier_module.end_logits

    def counting_end_logits(net, x, f, **kw):
        batches.append(len(x))
        return real_end_logits(net, x, f, **kw)

    monkeypatch.setattr(classifier_module, "end_logits", counting_end_logits)
    whole, whole_reject = clf.read(crops, feats, mirrored=True)
    assert batches == [classifier_module.READ_CHUNK, 5]  # memory bounded by the chunk, not by the cell
    rows = [clf.read(crops[i:i + 1], feats[i:i + 1], mirrored=True) for i in (0, len(crops) - 1)]
    np.testing.assert_allclose(whole[[0, -1]], np.concatenate([r[0] for r in rows]), atol=1e-5)
    np.testing.assert_allclose(whole_reject[[0, -1]], np.concatenate([r[1] for r in rows]), atol=1e-6)


def test_temperature_softens_probabilities():
    crops, feats = random_inputs(6)
    sharp = tiny_classifier(temperature=0.5).log_probs(crops, feats)
    soft = tiny_classifier(temperature=3.0).log_probs(crops, feats)
    assert np.exp(soft).max(1).mean() < np.exp(sharp).max(1).mean()


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    clf = tiny_classifier(temperature=1.7)
    clf.metrics = {"top1": 0.5}
    path = tmp_path / "clf.pt"
    clf.save(path)
    raw = torch.load(path, weights_only=True)  # plain dict, no pickled objects
    assert raw["config"]["widths"] == [4, 8] and raw["class_names"] == list(CLASS_NAMES)
    loaded = ChromosomeClassifier.load(path)
    assert loaded.config == TINY and loaded.temperature == pytest.approx(1.7)
    assert loaded.metrics == {"top1": 0.5}
    crops, feats = random_inputs(3)
    # Weights are stored as fp16: predictions agree to fp16 precision.
    np.testing.assert_allclose(np.exp(loaded.log_probs(crops, feats)), np.exp(clf.log_probs(crops, feats)), atol=5e-3)


def test_bad_checkpoints_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError):
        ChromosomeClassifier.load(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        ChromosomeClassifier.load(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CheckpointError):
        ChromosomeClassifier.load(other)
    newer = tmp_path / "newer.pt"
    ckpt = checkpoint_dict(CropNet(TINY))
    ckpt["version"] = 99
    torch.save(ckpt, newer)
    with pytest.raises(CheckpointError, match="version"):
        ChromosomeClassifier.load(newer)
    broken = tmp_path / "broken.pt"
    ckpt = checkpoint_dict(CropNet(TINY))
    ckpt["config"]["widths"] = [4, 8, 16]
    torch.save(ckpt, broken)
    with pytest.raises(CheckpointError, match="does not match"):
        ChromosomeClassifier.load(broken)


def test_default_network_is_small(tmp_path):
    path = tmp_path / "default.pt"
    ChromosomeClassifier(CropNet(NetConfig())).save(path)
    assert path.stat().st_size < 3 * 1024 * 1024


def test_classify_cell_gives_uniform_rows_for_unusable_outlines():
    image = np.full((120, 120), 220, dtype=np.uint8)
    image[20:80, 50:62] = 60
    good = np.array([[50.0, 20], [62, 20], [62, 80], [50, 80]])
    outside = np.array([[500.0, 500], [510, 500], [510, 510]])
    lp = tiny_classifier().classify_cell(image, [good, outside])
    assert lp.shape == (2, 24)
    np.testing.assert_allclose(lp[1], -np.log(24), atol=1e-6)
    assert not np.allclose(lp[0], lp[1])


def test_numpy_metrics_are_stored_as_plain_values(tmp_path):
    clf = tiny_classifier()
    clf.metrics = {"top1": np.float64(0.5), "per_class": {"1": np.float32(0.25)}, "n": np.int64(3), "h": [np.int32(1)]}
    clf.save(tmp_path / "clf.pt")
    loaded = ChromosomeClassifier.load(tmp_path / "clf.pt")
    assert loaded.metrics == {"top1": 0.5, "per_class": {"1": 0.25}, "n": 3, "h": [1]}
    assert type(loaded.metrics["n"]) is int


def _two_bars() -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    image = np.full((120, 140), 220, dtype=np.uint8)
    image[20:90, 30:42] = 60
    image[30:60, 90:100] = 90
    return image, [(28.0, 18.0, 44.0, 92.0), (88.0, 28.0, 102.0, 62.0)]


def test_reading_a_box_once_is_reading_its_crop():
    clf = tiny_classifier()
    image, boxes = _two_bars()
    log_probs, reject = clf.read_boxes(image, boxes)
    cc = box_crops(image, boxes, out_size=TINY.out_size)
    expected, expected_reject = clf.read(cc.crops, cc.features)
    np.testing.assert_allclose(log_probs, expected, atol=1e-5)
    np.testing.assert_allclose(reject, expected_reject, atol=1e-6)


def test_reading_a_box_at_several_scales_averages_the_probabilities():
    clf = tiny_classifier()
    image, boxes = _two_bars()
    scales = (1.0, 0.9, 1.12)
    log_probs, reject = clf.read_boxes(image, boxes, BoxReading(scales))
    # The 25 outputs (24 classes given a chromosome, times 1 - reject, and reject) of each scale, averaged.
    outputs = []
    for scale in scales:
        lp, rj = clf.read_boxes(image, list(scaled_boxes(boxes, scale)))
        outputs.append(np.c_[np.exp(lp) * (1 - rj)[:, None], rj])
    mean = np.mean(outputs, axis=0)
    np.testing.assert_allclose(reject, mean[:, 24], atol=1e-6)
    np.testing.assert_allclose(np.exp(log_probs), mean[:, :24] / mean[:, :24].sum(axis=1, keepdims=True), atol=1e-5)
    single, _ = clf.read_boxes(image, boxes)
    assert not np.allclose(log_probs, single, atol=1e-4)  # the other scales did change the reading


def test_a_box_unreadable_at_one_scale_is_read_at_the_others():
    clf = tiny_classifier()
    image, boxes = _two_bars()
    off_image = [(200.0, 200.0, 240.0, 240.0)]  # no pixel of the image at any scale
    lp, reject = clf.read_boxes(image, boxes + off_image, BoxReading((1.0, 1.5)))
    np.testing.assert_allclose(lp[2], -np.log(24), atol=1e-6)
    assert reject[2] == 0.0 and np.all(np.isfinite(lp))
    empty_lp, empty_reject = clf.read_boxes(image, [], BoxReading((1.0, 0.9)))
    assert empty_lp.shape == (0, 24) and empty_reject.shape == (0,)


def test_scaled_boxes_keep_their_centre():
    out = scaled_boxes([(10, 20, 30, 60)], 1.5)
    np.testing.assert_allclose(out, [[5, 10, 35, 70]])


@pytest.mark.parametrize("scales", [(), (0.1,), (1.0, 3.0), (True,), ("1",)])
def test_box_reading_rejects_bad_scales(scales):
    with pytest.raises(TypeError, match="box reading scales"):
        BoxReading(scales)


def test_only_chromosomes_far_larger_than_the_training_cells_are_read_shrunk():
    taichung_sized = np.array([[0, 0, 30, 110], [0, 0, 40, 80], [0, 0, 25, 118]], dtype=float)
    assert reading_scale(taichung_sized) == 1.0
    assert reading_scale(np.zeros((0, 4))) == 1.0
    three_times = taichung_sized * 3  # median longer side 330 px
    assert reading_scale(three_times) == pytest.approx(90.0 / 330.0)


def test_a_high_resolution_image_reads_like_the_same_cell_at_training_size():
    clf = tiny_classifier()
    image, boxes = _two_bars()
    enlarged = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big_boxes = [tuple(4 * v for v in b) for b in boxes]
    assert reading_scale(np.array(big_boxes)) < 1.0
    log_probs, reject = clf.read_boxes(enlarged, big_boxes)
    original, original_reject = clf.read_boxes(image, boxes)
    np.testing.assert_allclose(np.exp(log_probs), np.exp(original), atol=0.02)
    np.testing.assert_allclose(reject, original_reject, atol=0.02)
