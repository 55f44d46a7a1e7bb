"""Rotated-box ground truth (outlines, box refinement on the image) and the rotated dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon, polygon_bbox, polygon_to_mask
from karyostudio.geometry.rotated import (
    normalize_rotated_boxes,
    rotated_box_corners,
    rotated_box_from_polygon,
    rotated_iou_matrix,
)
from karyostudio.io.annotation_set import load_annotation_set
from karyostudio.io.images import write_image
from karyostudio.io.labelme import write_labelme
from karyostudio.io.voc import write_voc
from karyostudio.models.rotated.box_fit import (
    FIT_FLAT,
    FIT_NO_COMPONENT,
    FIT_OK,
    fit_rotated_box_in_box,
    rotated_box_from_mask,
)
from karyostudio.training.classifier_data import patient_of
from karyostudio.training.config import AugmentConfig, ConfigError, config_from_dict
from karyostudio.training.detection_data import SynthSource
from karyostudio.training.rotated_data import (
    RotatedDetectionDataset,
    build_rotated_datasets,
    rotated_boxes_for_annotations,
    rotated_ground_truth,
)

torch.set_num_threads(1)
BAR = np.array([60.0, 45.0, 8.0, 50.0, 35.0])  # a tilted chromosome-like bar


def skew_iou(a, b) -> float:
    return float(rotated_iou_matrix(np.reshape(a, (1, 5)), np.reshape(b, (1, 5)))[0, 0])


def bar_image(shape=(90, 120), bars=(BAR,)) -> np.ndarray:
    image = np.full(shape, 215, dtype=np.uint8)
    for bar in bars:
        image[polygon_to_mask(rotated_box_corners(np.asarray(bar)[None])[0], shape)] = 50
    return image


def enclosing_box(rbox) -> tuple[float, float, float, float]:
    return polygon_bbox(rotated_box_corners(np.asarray(rbox)[None])[0])


def test_box_refinement_recovers_a_tilted_bar():
    fit = fit_rotated_box_in_box(bar_image(), enclosing_box(BAR))
    assert fit.ok and fit.reason == FIT_OK
    assert skew_iou(fit.rbox, BAR) > 0.85
    assert abs(fit.rbox[4] - BAR[4]) < 5.0  # the axis box alone would say 0 or 90


def test_box_refinement_ignores_a_neighbour_reaching_into_the_box():
    neighbour = np.array([84.0, 20.0, 8.0, 30.0, 100.0])  # its tip enters the bar's box corner
    image = bar_image(bars=(BAR, neighbour))
    fit = fit_rotated_box_in_box(image, enclosing_box(BAR))
    assert fit.ok and skew_iou(fit.rbox, BAR) > 0.85


def test_box_refinement_failures_keep_the_axis_box_and_say_why():
    flat = fit_rotated_box_in_box(np.full((50, 50), 200, np.uint8), (10, 10, 40, 40))
    assert not flat.ok and flat.reason == FIT_FLAT
    np.testing.assert_allclose(flat.rbox, [25, 25, 30, 30, 0])
    dots = np.full((60, 60), 210, np.uint8)
    dots[12:15, 12:15] = dots[40:43, 44:47] = 30  # small blobs, nothing spans the box
    lost = fit_rotated_box_in_box(dots, (5, 5, 55, 55))
    assert not lost.ok and lost.reason == FIT_NO_COMPONENT
    np.testing.assert_allclose(lost.rbox, [30, 30, 50, 50, 0])


def test_labelme_polygons_and_box_only_instances_become_rotated_boxes(tmp_path):
    outline = rotated_box_corners(BAR[None])[0]
    image_path = tmp_path / "cell.png"
    write_image(image_path, bar_image())
    ann = ImageAnnotations(key="cell", image_path=image_path, image_size=(120, 90), instances=[
        Instance(1, outline, label="3"),
        Instance(2, box_to_polygon(enclosing_box(BAR)), label="4", attributes={BOX_ONLY: True})])
    write_labelme(tmp_path / "cell.json", ann)
    read = load_annotation_set(tmp_path / "cell.json")["cell"]
    boxes, how = rotated_boxes_for_annotations(read, bar_image())
    assert how == ["outline", FIT_OK]
    np.testing.assert_allclose(boxes[0], rotated_box_from_polygon(outline), atol=1e-3)
    assert skew_iou(boxes[1], BAR) > 0.85
    no_image, how = rotated_boxes_for_annotations(read)
    assert how[1] == "no-image" and no_image[1, 4] in (0.0, 90.0)


def test_synthetic_targets_are_the_exact_minimum_area_boxes():
    source = SynthSource(seed=3, indices=[0], size=160)
    sample = source.load(0)
    dataset = RotatedDetectionDataset(source, input_size=160)
    image, target = dataset[0]
    assert image.shape == (1, 160, 160) and image.dtype == torch.float32
    k = len(target["labels"])
    assert target["rboxes"].shape == (k, 5) and target["boxes"].shape == (k, 4) and target["masks"].shape[0] == k
    expected = normalize_rotated_boxes([rotated_box_from_polygon(p) for p in sample.polygons])
    np.testing.assert_allclose(target["rboxes"].numpy(), expected[:k], atol=1e-3)
    rboxes = target["rboxes"].numpy().astype(np.float64)
    assert np.all(rboxes[:, 3] >= rboxes[:, 2]) and np.all((rboxes[:, 4] >= 0) & (rboxes[:, 4] < 180))


def test_augmented_targets_follow_the_masks_and_are_reproducible():
    dataset = RotatedDetectionDataset(SynthSource(5, range(2), 256), input_size=256,
                                      augment_config=AugmentConfig(max_rotation_deg=20))
    key = (1, (7, 0, 0, 1))
    image, target = dataset[key]
    again, target_again = dataset[key]
    assert torch.equal(image, again) and torch.equal(target["rboxes"], target_again["rboxes"])
    other = dataset[(1, (8, 0, 0, 1))][1]["rboxes"]
    assert other.shape != target["rboxes"].shape or not torch.equal(other, target["rboxes"])
    from_masks = np.array([rotated_box_from_mask(m.numpy().astype(bool)) for m in target["masks"]])
    ious = np.diag(rotated_iou_matrix(target["rboxes"].double().numpy(), from_masks))
    assert np.median(ious) > 0.8  # a wrong point map would give about 0


def voc_bar_tree(root, ids):
    """Taichung-like VOC tree whose images hold one tilted dark bar inside an axis-aligned box."""
    for image_id in ids:
        path = root / "JEPG" / f"{image_id}.jpg"
        write_image(path, bar_image())
        write_voc(root / "annotations" / f"{image_id}.xml",
                  ImageAnnotations(key=image_id, image_path=path, image_size=(120, 90),
                                   instances=[Instance(1, box_to_polygon(enclosing_box(BAR)), label="7")]))
    return root


def test_voc_boxes_are_refined_split_by_patient_and_rotate_with_the_image(tmp_path):
    ids = ["1000011", "1000012", "1000021", "1000022", "1000031", "1000041"]
    voc_bar_tree(tmp_path / "voc", ids)
    config = config_from_dict({"family": "deepchm", "data": {"root": str(tmp_path), "box_sources": [
        {"kind": "voc", "path": "voc", "val_fraction": 0.4, "seed": 1}], "augment": {"max_rotation_deg": 15}}})
    train, val = build_rotated_datasets(config, 120, roles=("boxes",))
    train_patients = {patient_of(train.source.load(i).key) for i in range(len(train))}
    val_patients = {patient_of(val.source.load(i).key) for i in range(len(val))}
    assert train_patients and val_patients and not train_patients & val_patients
    assert len(train) + len(val) == len(ids)
    _, target = val[0]
    assert "masks" not in target and target["labels"].tolist() == [7]
    assert skew_iou(target["rboxes"][0].double().numpy(), BAR) > 0.85
    assert val.fit_counts[FIT_OK] == 1 and val.failure_rate() == 0.0
    # Augmented: the rectangle turns with the image and stays a rectangle of the bar's size.
    image, turned = train[(0, (3, 1, 0, 0))]
    w, h = turned["rboxes"][0, 2:4].tolist()
    ref = rotated_box_from_polygon(train.sample(0).polygons[0])
    assert w == pytest.approx(ref[2], abs=0.05) and h == pytest.approx(ref[3], abs=0.05)
    truth = rotated_ground_truth(val.sample(0))
    inst = truth.instances[0]
    assert inst.attributes[BOX_ONLY] and skew_iou(inst.attributes["rotated_box"], BAR) > 0.85


def test_bad_roles_and_sizes_are_config_errors():
    config = config_from_dict({"family": "rotated-maskrcnn", "data": {
        "mask_sources": [{"kind": "synth", "count": 1, "val_count": 1, "size": 128}]}})
    with pytest.raises(ConfigError):
        build_rotated_datasets(config, 64, roles=("everything",))
    with pytest.raises(ConfigError):
        RotatedDetectionDataset(SynthSource(0, [0], 128), input_size=4)
    with pytest.raises(ConfigError, match="box_sources"):
        build_rotated_datasets(config, 64, roles=("boxes",))
    train, val = build_rotated_datasets(config, 64, roles=("masks",))
    assert len(train) == 1 and len(val) == 1 and "masks" in val[0][1]
