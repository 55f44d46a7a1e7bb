"""`karyostudio convert`: conversions, reported shapes, bad input (exit status 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from karyostudio.cli import main
from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.io.annotation_set import load_annotation_set
from karyostudio.io.coco import write_coco
from karyostudio.io.coco_results import write_coco_results

TRIANGLE = [[10.0, 10.0], [30.0, 12.0], [20.0, 40.0]]


def labelme_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    shapes = [{"label": "23", "points": TRIANGLE, "shape_type": "polygon", "score": 0.5},
              {"label": "119", "points": TRIANGLE, "shape_type": "polygon"},
              {"label": "4", "points": [[1, 1], [8, 9]], "shape_type": "rectangle"}]
    (root / "cell1.json").write_text(json.dumps({"imagePath": "cell1.png", "imageHeight": 50, "imageWidth": 60,
                                                 "shapes": shapes}))
    (root / "cell2.json").write_text(json.dumps({"imagePath": "cell2.png", "imageHeight": 50, "imageWidth": 60,
                                                 "shapes": [{"label": "", "points": TRIANGLE}]}))
    return root


def test_labelme_to_coco(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = labelme_folder(tmp_path / "labelme")
    assert main(["convert", str(src), "--to", "coco", "--out", str(tmp_path / "out.json")]) == 0
    out, err = capsys.readouterr()
    assert f"converted 2 image(s), 2 instance(s) from labelme-dir to coco -> {tmp_path / 'out.json'}" in out
    assert "1 shape(s) skipped" in out
    assert "skipped: cell1: shape 2 of 3 (label '119', polygon): unknown chromosome label '119'; skipped" in err
    assert "note: cell2: instance 1 has no class" in err
    converted = load_annotation_set(tmp_path / "out.json")
    assert [(i.label, i.score) for i in converted["cell1"].instances] == [("X", 0.5), ("4", None)]


def test_coco_to_voc_and_labelme(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    annotations = {"a": ImageAnnotations(key="a", image_size=(40, 40), instances=[Instance(1, TRIANGLE, label="Y")])}
    write_coco(tmp_path / "gt.json", annotations)
    assert main(["convert", str(tmp_path / "gt.json"), "--to", "voc", "--out", str(tmp_path / "voc")]) == 0
    out, err = capsys.readouterr()
    assert "converted 1 image(s), 1 instance(s) from coco to voc" in out
    assert "1 outline(s) were written as their bounding boxes" in err
    assert (tmp_path / "voc" / "a.xml").is_file()
    assert main(["convert", str(tmp_path / "voc"), "--to", "labelme", "--out", str(tmp_path / "lm")]) == 0
    assert load_annotation_set(tmp_path / "lm")["a"].instances[0].label == "Y"


def test_results_with_ground_truth_names(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    annotations = {"cell": ImageAnnotations(key="cell", image_size=(40, 40),
                                            instances=[Instance(1, TRIANGLE, label="7", score=0.9)])}
    write_coco(tmp_path / "gt.json", annotations)
    write_coco_results(tmp_path / "res.json", annotations, {"cell": 1})
    assert main(["convert", str(tmp_path / "res.json"), "--to", "labelme", "--out", str(tmp_path / "lm"),
                 "--coco-gt", str(tmp_path / "gt.json")]) == 0
    assert "from coco-results to labelme" in capsys.readouterr().out
    assert load_annotation_set(tmp_path / "lm" / "cell.json")["cell"].instances[0].score == 0.9


@pytest.mark.parametrize("make_src, words", [
    (lambda d: d / "missing", "no such file or folder"),
    (lambda d: (d / "x.json").write_text('{"a": 1}') and d / "x.json", "JSON of an unknown kind"),
    (lambda d: (d / "x.xml").write_text("<annotation>") and d / "x.xml", "not well-formed XML"),
])
def test_bad_input_exits_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture, make_src, words) -> None:
    src = make_src(tmp_path)
    assert main(["convert", str(src), "--to", "labelme", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "karyostudio convert: error:" in err and words in err
    assert not (tmp_path / "out").exists()


def test_bad_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = labelme_folder(tmp_path / "labelme")
    assert main(["convert", str(src), "--to", "coco", "--out", str(tmp_path)]) == 2
    assert "COCO annotations are one file" in capsys.readouterr().err


def test_unknown_target_format_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["convert", str(tmp_path), "--to", "yolo", "--out", str(tmp_path / "o")])
    assert info.value.code == 2
