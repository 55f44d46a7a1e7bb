"""`karyostudio evaluate` scores rotated predictions with the DeepCHM skew-IoU metrics next to mAP@50,
also against box-only (VOC) ground truth whose rotated boxes are refined on the images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from karyostudio.cli import main
from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon, polygon_bbox, polygon_to_mask
from karyostudio.geometry.rotated import rotated_box_corners
from karyostudio.io.annotation_set import save_annotation_set
from karyostudio.io.images import write_image
from karyostudio.io.voc import write_voc
from karyostudio.models.rotated.ground_truth import refine_box_ground_truth
from karyostudio.models.rotated.postprocess import instance_from_rotated_box

BARS = np.array([[40.0, 45.0, 8.0, 50.0, 35.0], [100.0, 50.0, 8.0, 44.0, 140.0]])


def voc_with_tilted_bars(root):
    image = np.full((100, 150), 215, dtype=np.uint8)
    for bar in BARS:
        image[polygon_to_mask(rotated_box_corners(bar[None])[0], image.shape)] = 50
    path = root / "JEPG" / "1000011.jpg"
    write_image(path, image)
    boxes = [polygon_bbox(rotated_box_corners(bar[None])[0]) for bar in BARS]
    write_voc(root / "annotations" / "1000011.xml", ImageAnnotations(
        key="1000011", image_path=path, image_size=(150, 100),
        instances=[Instance(k + 1, box_to_polygon(b), label="1") for k, b in enumerate(boxes)]))
    return image


def evaluate(capsys, tmp_path, *extra):
    out = tmp_path / f"eval{len(extra)}.json"
    code = main(["evaluate", "--gt", str(tmp_path / "voc"), "--pred", str(tmp_path / "pred"), "--json", str(out),
                 *extra])
    stdout = capsys.readouterr().out
    assert code == 0 and "box mAP@50" in stdout and "Rotated-box detection (DeepCHM metrics" in stdout
    return json.loads(out.read_text())["detection"]


def test_rotated_predictions_against_refined_voc_boxes(tmp_path, capsys):
    image = voc_with_tilted_bars(tmp_path / "voc")
    predictions = [instance_from_rotated_box(image, bar, 0.9, "1", "rot", instance_id=k + 1)
                   for k, bar in enumerate(BARS)]
    save_annotation_set({"1000011": ImageAnnotations(key="1000011", instances=predictions, image_size=(150, 100))},
                        tmp_path / "pred", "labelme")
    plain = evaluate(capsys, tmp_path)
    assert plain["recall"] == 0.0  # each tilted bar has skew-IoU about 0.25 with its own axis box
    refined = evaluate(capsys, tmp_path, "--rotated-gt-from-image")
    assert refined["recall"] == 1.0 and refined["precision"] == 1.0 and refined["f1"] == 1.0
    assert refined["mfps"] == 0.0 and refined["mod"] == pytest.approx(1.0) and refined["ap"] > 0.99


def test_refinement_counts_outcomes_and_skips_missing_images(tmp_path):
    from karyostudio.io.voc import read_voc_dir
    voc_with_tilted_bars(tmp_path / "voc")
    gt = read_voc_dir(tmp_path / "voc")
    refined, counts = refine_box_ground_truth(gt)
    assert counts == {"ok": 2}
    assert all("rotated_box" in i.attributes for i in refined["1000011"].instances)
    assert refine_box_ground_truth(refined)[1] == {}  # already refined: left alone
    gt["1000011"].image_path = tmp_path / "missing.jpg"
    same, counts = refine_box_ground_truth(gt)
    assert counts == {"no-image": 2} and same["1000011"] is gt["1000011"]
