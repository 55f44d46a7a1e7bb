"""Format detection, loading and saving whole annotation sets, and cross-format round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.io.annotation_set import load_annotation_set, load_annotations_with_format, save_annotation_set
from karyostudio.io.coco import write_coco
from karyostudio.io.coco_results import write_coco_results
from karyostudio.io.errors import AnnotationReadError, AnnotationWriteError
from karyostudio.io.labelme import write_labelme
from karyostudio.io.voc import write_voc


def make_set() -> dict[str, ImageAnnotations]:
    return {
        "cell1": ImageAnnotations(key="cell1", image_size=(100, 80), instances=[
            Instance(1, [[10.5, 10.0], [30.0, 12.25], [20.0, 40.0]], label="X", score=0.75, source="net"),
            Instance(2, [[50.0, 5.0], [70.0, 5.0], [70.0, 30.0], [50.0, 30.0]], label="13", score=0.5,
                     source="net", attributes={BOX_ONLY: True}),
        ]),
        "cell2": ImageAnnotations(key="cell2", image_size=(60, 60), instances=[
            Instance(1, [[1.0, 1.0], [9.0, 1.0], [9.0, 9.0], [4.0, 12.0]], label="1", reviewed=True)]),
    }


def assert_same_sets(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].instances == b[key].instances, key
        assert a[key].image_size == b[key].image_size


# --- detection -----------------------------------------------------------------------------------

def test_every_format_is_detected(tmp_path: Path) -> None:
    annotations = make_set()
    for key, ann in annotations.items():
        write_labelme(tmp_path / "labelme" / f"{key}.json", ann)
        write_voc(tmp_path / "voc" / f"{key}.xml", ann)
        write_voc(tmp_path / "tree" / "annotations" / f"{key}.xml", ann)
    write_coco(tmp_path / "coco.json", annotations)
    write_coco_results(tmp_path / "results.json", annotations, {"cell1": 7, "cell2": 8})

    cases = {
        tmp_path / "labelme": "labelme-dir", tmp_path / "labelme" / "cell1.json": "labelme",
        tmp_path / "voc": "voc-dir", tmp_path / "tree": "voc-dir", tmp_path / "voc" / "cell2.xml": "voc",
        tmp_path / "coco.json": "coco", tmp_path / "results.json": "coco-results",
    }
    for path, expected in cases.items():
        found, loaded = load_annotations_with_format(path)
        assert found == expected, path
        assert set(loaded) <= {"cell1", "cell2", "7", "8"}
    assert_same_sets(load_annotation_set(tmp_path / "labelme"), annotations)
    assert_same_sets(load_annotation_set(tmp_path / "coco.json"), annotations)
    assert sorted(load_annotation_set(tmp_path / "results.json")) == ["7", "8"]
    named = load_annotation_set(tmp_path / "results.json", image_keys={7: "cell1", 8: "cell2"})
    assert [i.label for i in named["cell1"].instances] == ["X", "13"]
    boxes = load_annotation_set(tmp_path / "tree")["cell1"].instances
    assert all(i.attributes[BOX_ONLY] for i in boxes)


@pytest.mark.parametrize("name, content, words", [
    ("notes.txt", "hello", "unknown annotation file type '.txt'"),
    ("foreign.json", '{"type": "FeatureCollection"}', "JSON of an unknown kind"),
    ("numbers.json", "[1, 2, 3]", "JSON of an unknown kind"),
    ("broken.json", "{", "not valid JSON"),
])
def test_foreign_files(tmp_path: Path, name: str, content: str, words: str) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(AnnotationReadError) as info:
        load_annotation_set(tmp_path / name)
    assert words in str(info.value)
    assert "expected" in str(info.value) or "JSON" in str(info.value)


def test_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(AnnotationReadError, match="no such file or folder"):
        load_annotation_set(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationReadError, match="no annotation files"):
        load_annotation_set(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    write_labelme(mixed / "a.json", make_set()["cell1"])
    write_voc(mixed / "b.xml", make_set()["cell2"])
    with pytest.raises(AnnotationReadError, match="both .json and .xml"):
        load_annotation_set(mixed)
    labelme = tmp_path / "labelme"
    write_labelme(labelme / "a.json", make_set()["cell1"])
    write_coco(labelme / "z_coco.json", make_set())
    with pytest.raises(AnnotationReadError, match="z_coco.json: not a labelme file"):
        load_annotation_set(labelme)
    duplicate = tmp_path / "duplicate"
    same_image = make_set()["cell1"]
    same_image.image_path = tmp_path / "cell1.png"
    write_labelme(duplicate / "a.json", same_image)
    write_labelme(duplicate / "b.json", same_image)
    with pytest.raises(AnnotationReadError, match="also annotated by a.json"):
        load_annotation_set(duplicate)


def test_progress_and_cancel(tmp_path: Path) -> None:
    for key, ann in make_set().items():
        write_labelme(tmp_path / "in" / f"{key}.json", ann)
    calls: list[tuple[int, int]] = []
    load_annotation_set(tmp_path / "in", progress=lambda done, total, message="": calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        load_annotation_set(tmp_path / "in", cancel=token)
    with pytest.raises(Cancelled):
        save_annotation_set(make_set(), tmp_path / "out", "labelme", cancel=token)
    assert not (tmp_path / "out").exists()


# --- saving --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, target", [("labelme", "out"), ("coco", "out/set.json"), ("voc", "out")])
def test_save_and_load_back(tmp_path: Path, fmt: str, target: str) -> None:
    annotations = make_set()
    notes = save_annotation_set(annotations, tmp_path / target, fmt)
    assert notes == []
    back = load_annotation_set(tmp_path / target)
    if fmt == "voc":  # boxes only (covering whole pixels), no scores
        assert [i.bbox for i in back["cell1"].instances] == [(10, 10, 30, 40), (50, 5, 70, 30)]
        assert [i.label for i in back["cell2"].instances] == ["1"]
    else:
        assert_same_sets(back, annotations)


def test_save_refuses_wrong_targets_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(AnnotationWriteError, match="is a file"):
        save_annotation_set(make_set(), tmp_path / "file.txt", "labelme")
    with pytest.raises(AnnotationWriteError, match="is a folder"):
        save_annotation_set(make_set(), tmp_path, "coco")
    with pytest.raises(ValueError, match="unknown annotation format"):
        save_annotation_set(make_set(), tmp_path / "x", "yaml")
    bad = make_set()
    bad["../escape"] = ImageAnnotations(key="../escape")
    with pytest.raises(AnnotationWriteError, match="cannot be used as a file name"):
        save_annotation_set(bad, tmp_path / "out", "voc")
    assert not (tmp_path / "out").exists()


def test_bad_data_in_the_last_image_writes_nothing(tmp_path: Path) -> None:
    bad = make_set()
    bad["zz"] = ImageAnnotations(key="zz", instances=[Instance(1, [[0, 0], [1, 0], [0, 1]], label="2",
                                                               attributes={"array": np.zeros(2)})])
    write_labelme(tmp_path / "out" / "cell1.json", make_set()["cell2"])  # an older file to keep
    before = (tmp_path / "out" / "cell1.json").read_text()
    with pytest.raises(AnnotationWriteError, match="zz.json"):
        save_annotation_set(bad, tmp_path / "out", "labelme")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cell1.json"]
    assert (tmp_path / "out" / "cell1.json").read_text() == before


# --- cross-format round trips --------------------------------------------------------------------

def test_labelme_to_coco_to_labelme_keeps_polygons_labels_scores(tmp_path: Path) -> None:
    annotations = make_set()
    save_annotation_set(annotations, tmp_path / "a", "labelme")
    save_annotation_set(load_annotation_set(tmp_path / "a"), tmp_path / "coco.json", "coco")
    save_annotation_set(load_annotation_set(tmp_path / "coco.json"), tmp_path / "b", "labelme")
    back = load_annotation_set(tmp_path / "b")
    assert_same_sets(back, annotations)
    first = back["cell1"].instances[0]
    np.testing.assert_array_equal(first.polygon, annotations["cell1"].instances[0].polygon)
    assert (first.label, first.score, first.source) == ("X", 0.75, "net")
    assert json.loads((tmp_path / "a" / "cell1.json").read_text()) == json.loads((tmp_path / "b" / "cell1.json").read_text())


@pytest.mark.shared_data
def test_autokary_through_coco(autokary_dir: Path, tmp_path: Path) -> None:
    original = load_annotation_set(autokary_dir)
    assert len(original) == 4
    save_annotation_set(original, tmp_path / "coco.json", "coco")
    save_annotation_set(load_annotation_set(tmp_path / "coco.json"), tmp_path / "labelme", "labelme")
    back = load_annotation_set(tmp_path / "labelme")
    assert_same_sets(back, original)
    for key in original:
        assert back[key].image_path == original[key].image_path
