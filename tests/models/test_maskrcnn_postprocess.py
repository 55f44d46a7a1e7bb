"""raw_to_instances: fake Mask R-CNN output -> Instances (labels, scores, outlines, scaling, filtering)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.models.maskrcnn.postprocess import raw_to_instances


def fake_output(boxes, labels, scores, masks) -> dict[str, torch.Tensor]:
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels),
            "scores": torch.tensor(scores), "masks": torch.tensor(np.asarray(masks, dtype=np.float32))[:, None]}


FULL = np.ones((28, 28))
LEFT_HALF = np.zeros((28, 28))
LEFT_HALF[:, :14] = 1.0


def test_instances_come_out_by_score_with_names_scores_and_source():
    raw = fake_output([[10, 10, 30, 50], [50, 20, 70, 40], [5, 60, 25, 70]], [1, 23, 24], [0.7, 0.95, 0.6],
                      [FULL, FULL, FULL])
    out = raw_to_instances(raw, (100, 100), source="mrcnn-test")
    assert [i.label for i in out] == ["X", "1", "Y"]
    assert [i.score for i in out] == pytest.approx([0.95, 0.7, 0.6])
    assert [i.id for i in out] == [1, 2, 3]
    assert all(i.source == "mrcnn-test" and not i.reviewed for i in out)
    assert out[0].bbox == (50.0, 20.0, 70.0, 40.0)  # a full mask fills its box exactly
    assert out[0].attributes["box"] == [50.0, 20.0, 70.0, 40.0]


def test_mask_is_pasted_into_its_box():
    raw = fake_output([[20, 10, 60, 30]], [7], [0.9], [LEFT_HALF])
    (inst,) = raw_to_instances(raw, (64, 80), source="m")
    mask = polygon_to_mask(inst.polygon, (64, 80))
    assert mask[10:30, 20:39].all()  # left half of the box (x 20..40), minus the blurred seam
    assert not mask[:, 41:].any() and not mask[:10].any() and not mask[30:].any()
    assert 380 <= mask.sum() <= 420  # 20 x 20 px


def test_scale_maps_network_pixels_back_to_the_image():
    raw = fake_output([[10, 10, 20, 30]], [2], [0.9], [FULL])
    (inst,) = raw_to_instances(raw, (200, 200), source="m", scale=(0.5, 0.25))
    assert inst.bbox == (20.0, 40.0, 40.0, 120.0)


def test_low_scores_empty_masks_and_boxes_outside_are_dropped():
    raw = fake_output([[10, 10, 30, 30], [40, 40, 60, 60], [200, 200, 220, 220], [5, 5, 15, 15]], [3, 4, 5, 6],
                      [0.9, 0.8, 0.9, 0.3], [np.zeros((28, 28)), FULL, FULL, FULL])
    out = raw_to_instances(raw, (100, 100), source="m", score_threshold=0.5)
    assert [i.label for i in out] == ["4"]
    assert raw_to_instances(raw, (100, 100), source="m", score_threshold=0.0)[-1].label == "6"


def test_boxes_reaching_past_the_edge_are_clipped():
    raw = fake_output([[-10, 90, 20, 120]], [9], [0.9], [FULL])
    (inst,) = raw_to_instances(raw, (100, 100), source="m")
    assert inst.bbox == (0.0, 90.0, 20.0, 100.0)


def test_no_detections_gives_no_instances_and_bad_output_is_refused():
    empty = fake_output(np.zeros((0, 4)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32),
                        np.zeros((0, 28, 28)))
    assert raw_to_instances(empty, (50, 50), source="m") == []
    with pytest.raises(ValueError, match="background"):
        raw_to_instances(fake_output([[1, 1, 9, 9]], [0], [0.9], [FULL]), (50, 50), source="m")
    with pytest.raises(ValueError, match="lengths"):
        raw_to_instances(fake_output([[1, 1, 9, 9]], [1], [0.9], [FULL, FULL]), (50, 50), source="m")
