"""Training images re-recorded in drawn capture styles, and the classifier crops made from them."""

from __future__ import annotations

import numpy as np
import pytest
from karyostudio.core.classes import class_index
from karyostudio.models.manifest import read_manifest
from karyostudio.training import classifier_data as D
from karyostudio.training.capture_style import capture_style
from karyostudio.training.engine import fit
from tests.training.test_classifier_data import toy_cells
from tests.training.test_classifier_detector import untrained_detector
from tests.training.test_classifier_train import OUT, exported_classifier, tiny_config


def banded_cell() -> np.ndarray:
    image = np.full((96, 128), 220, np.uint8)
    image[20:80, 30:42] = 70
    image[40:46, 30:42] = 150  # a pale band
    return image


def test_a_drawn_style_is_reproducible_and_keeps_chromosomes_darker_than_the_slide():
    image = banded_cell()
    looks = [capture_style(image, np.random.default_rng(k)) for k in range(40)]
    again = capture_style(image, np.random.default_rng(3))
    np.testing.assert_array_equal(again, looks[3])
    for look in looks:
        assert look.shape == image.shape and look.dtype == np.uint8
        slide, band, dark = look[5:15, 80:120].mean(), look[41:45, 33:39].mean(), look[60:75, 33:39].mean()
        assert dark < band < slide  # the tone curve is monotone; sharpening and noise do not reorder these
    changed = [np.abs(look.astype(int) - image).mean() for look in looks]
    assert min(changed) > 0.5  # every draw records the cell differently
    assert len({round(c, 1) for c in changed}) > 20  # and the draws differ from one another
    with pytest.raises(ValueError, match="2-D uint8"):
        capture_style(image.astype(np.uint16), np.random.default_rng(0))


def test_styled_crops_hold_the_annotated_chromosomes_and_are_cached(tmp_path, monkeypatch):
    root = tmp_path / "data"
    ids = ["10001", "10002", "10011"]
    toy_cells(root, ids)
    plain = D.build_crop_dataset(root, ids, out_size=OUT)
    styled = D.build_styled_crops(root, ids, 2, seed=5, out_size=OUT, detector_path=None, score_floor=0.2,
                                  cache_dir=tmp_path / "cache")
    assert styled.image_ids == [f"{i}~style{k}" for k in range(2) for i in ids]
    assert len(styled) == 2 * len(plain)
    np.testing.assert_array_equal(styled.labels, np.tile(plain.labels, 2))
    assert sorted(set(styled.labels.tolist())) == [class_index("1"), class_index("21")]
    assert not np.array_equal(styled.crops[:len(plain)], plain.crops)  # restyled, not copied
    assert not np.array_equal(styled.crops[:len(plain)], styled.crops[len(plain):])  # two different draws

    def no_build(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(D, "_collect", no_build)
    cached = D.build_styled_crops(root, ids, 2, seed=5, out_size=OUT, detector_path=None, score_floor=0.2,
                                  cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(cached.crops, styled.crops)
    with pytest.raises(AssertionError):  # another seed draws other styles: another cache entry
        D.build_styled_crops(root, ids, 2, seed=6, out_size=OUT, detector_path=None, score_floor=0.2,
                             cache_dir=tmp_path / "cache")


def test_training_with_capture_styles_adds_restyled_annotated_and_detected_crops(tmp_path):
    ids = [f"1000{c}" for c in range(1, 4)] + [f"1001{c}" for c in range(1, 4)]
    toy_cells(tmp_path / "data", ids)
    detector = untrained_detector(tmp_path / "detector.pt", max_detections=20, seed=0)
    common = dict(epochs=1, val_fraction=0.5, detector=str(detector), detector_score_floor=0.0,
                  data_root=str(tmp_path / "data"))
    without = exported_classifier(fit(tiny_config(tmp_path / "a", **common))).metrics["data"]["train_crops"]
    result = fit(tiny_config(tmp_path / "b", capture_styles=1, **common))
    clf = exported_classifier(result)
    # Three training cells of four chromosomes: their restyled annotated boxes and whatever the
    # detector finds in the restyled images join the crops.
    assert clf.metrics["data"]["train_crops"] > without + 12
    assert clf.metrics["train_config"]["capture_styles"] == 1
    assert "capture style" in read_manifest(result.manifest).training_data
