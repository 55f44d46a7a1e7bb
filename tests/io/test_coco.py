"""COCO instances and results files, checked against pycocotools; RLE decoding; round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.io.coco import (coco_image_ids, export_coco, read_coco, read_coco_image_keys,
                                 write_coco)
from karyostudio.io.coco_results import read_coco_results, write_coco_results
from karyostudio.io.coco_rle import decode_rle
from karyostudio.io.errors import AnnotationReadError, AnnotationWriteError

pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def blob(cx: float, cy: float, r: float, n: int = 17, wobble: float = 0.3) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    radius = r * (1 + wobble * np.sin(3 * t))
    return np.stack([cx + radius * np.cos(t), cy + 0.6 * radius * np.sin(t)], axis=1)


def sample_set(tmp_path: Path) -> dict[str, ImageAnnotations]:
    return {
        "b": ImageAnnotations(key="b", image_path=tmp_path / "img" / "b.png", image_size=(120, 90), instances=[
            Instance(1, blob(30, 30, 15), label="1", score=0.9, source="net"),
            Instance(2, blob(80, 50, 12), label="X", score=0.4, source="net", attributes={"cluster": True}),
            Instance(3, [[5, 60], [25, 60], [25, 85], [5, 85]], label="Y", attributes={BOX_ONLY: True}),
            Instance(4, blob(60, 20, 5), label=None),
        ]),
        "a.2": ImageAnnotations(key="a.2", image_size=(64, 64), instances=[
            Instance(5, blob(32.3, 30.7, 20, n=40), label="22", reviewed=True)]),
    }


def boundary_distance(polygon: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    ring = Polygon(polygon).exterior
    return np.array([ring.distance(Point(c + 0.5, r + 0.5)) for r, c in zip(rows, cols)])


# --- instances -----------------------------------------------------------------------------------

def test_export_structure(tmp_path: Path) -> None:
    notes: list[str] = []
    data = export_coco(sample_set(tmp_path), notes=notes)
    assert [c["name"] for c in data["categories"]] == list(CLASS_NAMES)
    assert [c["id"] for c in data["categories"]] == list(range(1, 25))
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in data["images"]] == [
        (1, "a.2", 64, 64), (2, "b.png", 120, 90)]
    anns = data["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3, 4]
    assert [a["category_id"] for a in anns] == [22, 1, 23, 24]
    assert all(a["iscrowd"] == 0 for a in anns)
    box = anns[3]
    assert box["segmentation"] == [] and box["bbox"] == [5.0, 60.0, 20.0, 25.0] and box["area"] == 500.0
    assert "attributes" not in box
    assert len(anns[1]["segmentation"]) == 1 and len(anns[1]["segmentation"][0]) == 2 * 17
    assert anns[1]["score"] == 0.9 and anns[1]["source"] == "net"
    assert notes == ["b: instance 4 has no class; COCO needs a category, not written"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside pycocotools with numpy 2
def test_pycocotools_masks_match_ours(tmp_path: Path) -> None:
    annotations = sample_set(tmp_path)
    write_coco(tmp_path / "gt.json", annotations)
    coco = COCO(str(tmp_path / "gt.json"))
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 4
    ids = coco_image_ids(annotations)
    for key, ann in annotations.items():
        width, height = ann.image_size
        coco_anns = coco.loadAnns(coco.getAnnIds(imgIds=[ids[key]]))
        ours = [inst for inst in ann.instances if inst.label is not None and not inst.attributes.get(BOX_ONLY)]
        coco_polys = [a for a in coco_anns if a["segmentation"]]
        assert len(ours) == len(coco_polys)
        for inst, coco_ann in zip(ours, coco_polys):
            theirs = coco.annToMask(coco_ann).astype(bool)
            mine = polygon_to_mask(inst.polygon, (height, width))
            rows, cols = np.nonzero(theirs ^ mine)
            assert len(rows) <= 0.05 * mine.sum()
            # they differ only in how pixels on the outline are decided
            assert np.all(boundary_distance(inst.polygon, rows, cols) <= 0.75)


def test_round_trip_through_coco(tmp_path: Path) -> None:
    annotations = sample_set(tmp_path)
    write_coco(tmp_path / "out" / "gt.json", annotations)
    back = read_coco(tmp_path / "out" / "gt.json")
    assert sorted(back) == ["a.2", "b"]
    assert back["b"].instances == [i for i in annotations["b"].instances if i.label is not None]
    assert back["a.2"].instances == annotations["a.2"].instances
    assert back["b"].image_path == tmp_path / "img" / "b.png"  # through the stored relative path
    assert back["b"].image_size == (120, 90) and back["b"].skipped == []
    assert read_coco_image_keys(tmp_path / "out" / "gt.json") == {1: "a.2", 2: "b"}


def test_size_is_required(tmp_path: Path) -> None:
    unsized = {"a": ImageAnnotations(key="a", instances=[Instance(1, blob(5, 5, 3), label="2")])}
    with pytest.raises(AnnotationWriteError, match="image size unknown"):
        write_coco(tmp_path / "a.json", unsized)
    assert not (tmp_path / "a.json").exists()


def foreign_coco(tmp_path: Path, annotations: list[dict], categories=None) -> Path:
    data = {"images": [{"id": 10, "file_name": "imgs/cell.jpg", "width": 50, "height": 40}],
            "annotations": annotations,
            "categories": categories if categories is not None else
            [{"id": 1, "name": "A1"}, {"id": 2, "name": "x"}, {"id": 3, "name": "Y"}, {"id": 9, "name": "nucleus"}]}
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(data))
    return path


def test_foreign_coco(tmp_path: Path) -> None:
    mask = np.zeros((40, 50), bool)
    mask[5:15, 10:30] = True
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode()
    path = foreign_coco(tmp_path, [
        {"id": 1, "image_id": 10, "category_id": 1, "segmentation": rle, "bbox": [10, 5, 20, 10], "iscrowd": 0},
        {"id": 2, "image_id": 10, "category_id": 3, "bbox": [1, 2, 3, 4], "iscrowd": 0},
        {"id": 3, "image_id": 10, "category_id": 9, "segmentation": [[1, 1, 5, 1, 5, 5]], "iscrowd": 0},
        {"id": 4, "image_id": 10, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5]], "iscrowd": 1},
        {"id": 5, "image_id": 10, "category_id": 2, "iscrowd": 0,
         "segmentation": [[30, 30, 31, 30, 31, 31], [20, 20, 40, 20, 40, 35, 20, 35]]},
        {"id": 6, "image_id": 10, "category_id": 3, "segmentation": [[1, 1, 5]], "iscrowd": 0},
    ])
    ann = read_coco(path)["cell"]
    assert ann.image_path == tmp_path / "imgs" / "cell.jpg" and ann.image_size == (50, 40)
    rle_inst, box_inst, two_part = ann.instances
    assert rle_inst.label == "1" and rle_inst.bbox == (10.0, 5.0, 30.0, 15.0)
    np.testing.assert_array_equal(polygon_to_mask(rle_inst.polygon, (40, 50)), mask)
    assert box_inst.label == "Y" and box_inst.attributes == {BOX_ONLY: True}
    assert box_inst.bbox == (1.0, 2.0, 4.0, 6.0)
    assert two_part.label == "X" and two_part.bbox == (20.0, 20.0, 40.0, 35.0)
    skipped = "\n".join(ann.skipped)
    assert "not a chromosome class" in skipped and "crowd" in skipped and "2 separate parts" in skipped
    assert "at least 3 x, y pairs" in skipped and len(ann.skipped) == 4


@pytest.mark.parametrize("data, words", [
    ([1, 2], "not a COCO instances file"),
    ({"images": {}, "annotations": []}, "'images' must be a list"),
    ({"images": [{"id": "1", "file_name": "a.png"}], "annotations": []}, "'id' must be a distinct integer"),
    ({"images": [{"id": 1, "file_name": "a.png", "width": 0, "height": 3}], "annotations": []}, "positive"),
    ({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 2, "category_id": 1}]},
     "image_id 2, which is not in 'images'"),
    ({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [{"image_id": 1, "category_id": 77}],
      "categories": []}, "category not in 'categories'"),
    ({"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "x/a.jpg"}], "annotations": []},
     "two images have the key 'a'"),
])
def test_malformed_coco(tmp_path: Path, data, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationReadError) as info:
        read_coco(path)
    assert words in str(info.value)


# --- results -------------------------------------------------------------------------------------

def evaluate_ap50(gt_path: Path, results_path: Path, iou_type: str) -> float:
    gt = COCO(str(gt_path))
    evaluator = COCOeval(gt, gt.loadRes(str(results_path)), iou_type)
    evaluator.params.areaRng = [[0, 1e10]] * 4  # small blobs: keep every area range populated
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return float(evaluator.stats[1])


def test_results_are_accepted_by_pycocotools_and_score_perfectly(tmp_path: Path) -> None:
    annotations = sample_set(tmp_path)
    write_coco(tmp_path / "gt.json", annotations)
    ids = coco_image_ids(annotations)
    predictions = {key: ImageAnnotations(key=key, instances=[i.with_(score=0.8) for i in ann.instances])
                   for key, ann in annotations.items()}
    notes = write_coco_results(tmp_path / "res.json", predictions, ids)
    assert notes == ["b: instance 4 has no class; a COCO result needs a category, not written"]
    results = json.loads((tmp_path / "res.json").read_text())
    assert {"image_id", "category_id", "bbox", "score", "segmentation"} <= set(results[0])
    assert all(isinstance(r["segmentation"][0], list) for r in results if "segmentation" in r)
    assert evaluate_ap50(tmp_path / "gt.json", tmp_path / "res.json", "bbox") == pytest.approx(1.0)

    # Mask evaluation needs outlines on the ground truth side: leave out the box-only instance.
    outlined = {key: ImageAnnotations(key=key, image_size=ann.image_size,
                                      instances=[i for i in ann.instances if not i.attributes.get(BOX_ONLY)])
                for key, ann in annotations.items()}
    write_coco(tmp_path / "gt_outlines.json", outlined)
    write_coco_results(tmp_path / "res_outlines.json", outlined, ids)
    assert evaluate_ap50(tmp_path / "gt_outlines.json", tmp_path / "res_outlines.json", "segm") == pytest.approx(1.0)


def test_results_round_trip(tmp_path: Path) -> None:
    annotations = sample_set(tmp_path)
    ids = coco_image_ids(annotations)
    write_coco_results(tmp_path / "res.json", annotations, ids)
    back = read_coco_results(tmp_path / "res.json", {v: k for k, v in ids.items()} | {99: "empty"})
    assert sorted(back) == ["a.2", "b", "empty"] and back["empty"].instances == []
    expected = [i.with_(score=1.0) if i.score is None else i for i in annotations["b"].instances if i.label]
    assert back["b"].instances == expected
    assert back["a.2"].instances[0].score == 1.0 and back["a.2"].instances[0].reviewed is True


def test_foreign_results(tmp_path: Path) -> None:
    mask = np.zeros((20, 30), np.uint8)
    mask[2:9, 4:12] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    rle["counts"] = rle["counts"].decode()
    path = tmp_path / "res.json"
    path.write_text(json.dumps([
        {"image_id": 3, "category_id": 24, "segmentation": rle, "score": 0.6, "bbox": [4, 2, 8, 7]},
        {"image_id": 3, "category_id": 5, "bbox": [1, 1, 2, 2], "score": 0.3},
        {"image_id": 3, "category_id": 0, "bbox": [1, 1, 2, 2], "score": 0.3},
        {"image_id": 3, "category_id": 5, "bbox": [1, 1, 2, 2], "score": 3.0},
    ]))
    ann = read_coco_results(path, {3: "cell"})["cell"]
    assert [(i.label, i.score, i.source) for i in ann.instances] == [("Y", 0.6, "coco-results"),
                                                                    ("5", 0.3, "coco-results")]
    assert ann.image_size == (30, 20) and ann.instances[1].attributes == {BOX_ONLY: True}
    assert "category id is not 1..24" in ann.skipped[0] and "score 3.0" in ann.skipped[1]
    with pytest.raises(AnnotationReadError, match="image_id 3, which is not among the images given"):
        read_coco_results(path, {4: "other"})
    with pytest.raises(AnnotationWriteError, match="no COCO image id"):
        write_coco_results(tmp_path / "x.json", {"cell": ann}, {})


# --- RLE -----------------------------------------------------------------------------------------

def test_rle_decoding_matches_pycocotools() -> None:
    rng = np.random.default_rng(3)
    for shape in [(1, 1), (7, 5), (64, 48), (300, 200)]:
        mask = rng.random(shape) < rng.uniform(0.05, 0.95)
        mask[: shape[0] // 2, : shape[1] // 2] = True  # long runs need multi-chunk numbers
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        np.testing.assert_array_equal(decode_rle(rle), mask)
        np.testing.assert_array_equal(decode_rle({"size": rle["size"], "counts": rle["counts"].decode()}), mask)
        flat = mask.ravel(order="F").astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
        runs = np.diff(np.concatenate([[0], edges])).tolist()
        np.testing.assert_array_equal(decode_rle({"size": list(shape), "counts": runs}), mask)


@pytest.mark.parametrize("rle, words", [
    ({"size": [2, 2]}, "needs 'size' and 'counts'"),
    ({"size": [2], "counts": [4]}, "size must be"),
    ({"size": [2, 2], "counts": [1, 2]}, "cover 3 pixels"),
    ({"size": [2, 2], "counts": "\x7f"}, "invalid character"),
    ({"size": [2, 2], "counts": 4}, "string or a list"),
])
def test_malformed_rle(rle, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        decode_rle(rle)
