"""Pascal VOC: coordinate convention, Taichung layout and data, reported objects, errors, round trips."""

from __future__ import annotations

import csv
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.instance import Instance
from karyostudio.io.errors import AnnotationReadError
from karyostudio.io.images import image_size
from karyostudio.io.voc import read_voc, read_voc_dir, voc_box, write_voc


def voc_xml(filename: str | None, objects: list[tuple[str, tuple]], size: tuple[int, int] | None = (100, 80)) -> str:
    parts = ["<annotation><folder>x</folder>"]
    if filename is not None:
        parts.append(f"<filename>{filename}</filename>")
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>")
    for name, (x0, y0, x1, y1) in objects:
        parts.append(f"<object><name>{name}</name><pose>Unspecified</pose><bndbox><xmin>{x0}</xmin>"
                     f"<ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")
    parts.append("</annotation>")
    return "".join(parts)


def write_xml(path: Path, *args, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(voc_xml(*args, **kwargs))
    return path


# --- synthetic files -----------------------------------------------------------------------------

def test_inclusive_one_based_boxes_become_pixel_edge_rectangles(tmp_path: Path) -> None:
    ann = read_voc(write_xml(tmp_path / "a.xml", "cell.jpg", [("A1", (1, 1, 10, 5)), ("X", (20, 30, 20, 30))]))
    assert ann.key == "cell" and ann.image_size == (100, 80)
    first, single_pixel = ann.instances
    np.testing.assert_array_equal(first.polygon, [[0, 0], [10, 0], [10, 5], [0, 5]])
    assert first.label == "1" and first.attributes == {BOX_ONLY: True} and first.source == "manual"
    assert single_pixel.bbox == (19.0, 29.0, 20.0, 30.0) and single_pixel.area == 1.0
    assert [i.id for i in ann.instances] == [1, 2]


def test_boxes_outside_the_image_are_clipped(tmp_path: Path) -> None:
    ann = read_voc(write_xml(tmp_path / "a.xml", "a.jpg", [("B4", (-1, 0, 105, 90)), ("Y", (95, 70, 120, 85))]))
    assert ann.instances[0].bbox == (0.0, 0.0, 100.0, 80.0)
    assert ann.instances[1].bbox == (94.0, 69.0, 100.0, 80.0)
    unclipped = read_voc(write_xml(tmp_path / "b.xml", "b.jpg", [("B4", (-1, 0, 105, 90))], size=None))
    assert unclipped.image_size is None and unclipped.instances[0].bbox == (-2.0, -1.0, 105.0, 90.0)


def test_unknown_names_and_empty_boxes_are_reported(tmp_path: Path) -> None:
    ann = read_voc(write_xml(tmp_path / "a.xml", "a.jpg", [
        ("C6", (1, 1, 5, 5)), ("Z9", (1, 1, 5, 5)), ("C4", (1, 1, 5, 5)), ("", (1, 1, 5, 5)),
        ("G22", (10, 10, 5, 20)), ("E16", (150, 1, 160, 5)), ("7", (1, 1, 5, 5))]))
    assert [i.label for i in ann.instances] == ["6"]
    assert len(ann.skipped) == 6
    assert "object 2 of 7" in ann.skipped[0] and "'Z9'" in ann.skipped[0]
    assert "'C4'" in ann.skipped[1]  # chromosome 4 is group B, so C4 names nothing
    assert "no area" in ann.skipped[3] and "no area" in ann.skipped[4]
    assert "'7'" in ann.skipped[5]  # VOC files name classes with their group letter


def test_keys_and_missing_parts(tmp_path: Path) -> None:
    assert read_voc(write_xml(tmp_path / "a.xml", "0_1_247_180_0.880.png", [])).key == "0_1_247_180_0.880"
    assert read_voc(write_xml(tmp_path / "stem.xml", None, [])).key == "stem"
    zero = read_voc(write_xml(tmp_path / "zero.xml", "z.jpg", [("A2", (1, 1, 5, 5))], size=(0, 0)))
    assert zero.image_size is None and len(zero.instances) == 1


@pytest.mark.parametrize("content, words", [
    ("<annotation><object>", "not well-formed XML"),
    ("<html><body/></html>", "expected <annotation>"),
    (voc_xml("a.jpg", [("A1", (1, "left", 5, 5))]), "<ymin> must be a number, found 'left'"),
    (voc_xml("a.jpg", [("A1", (1, 1, "", 5))]), "<xmax> must be a number"),
    ("<annotation><size><width>ten</width><height>5</height></size></annotation>", "<width> must be a number"),
    ("", "not well-formed XML"),
])
def test_malformed_files(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content)
    with pytest.raises(AnnotationReadError) as info:
        read_voc(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AnnotationReadError, match="no such file"):
        read_voc(tmp_path / "none.xml")


def test_taichung_layout_and_plain_folders(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_xml(tree / "annotations" / "1.xml", "1.jpg", [("A1", (1, 1, 5, 5))])
    write_xml(tree / "annotations" / "2.xml", "2.jpg", [("Y", (1, 1, 5, 5))])
    (tree / "JEPG").mkdir()
    (tree / "JEPG" / "1.jpg").write_bytes(b"")
    annotations = read_voc_dir(tree)
    assert sorted(annotations) == ["1", "2"]
    assert annotations["1"].image_path == tree / "JEPG" / "1.jpg"
    assert annotations["2"].image_path == tree / "annotations" / "2.jpg"  # not found: expected beside the XML

    plain = tmp_path / "plain"
    write_xml(plain / "c.xml", "c.png", [("D13", (1, 1, 5, 5))])
    (plain / "notes.txt").write_text("ignored")
    assert list(read_voc_dir(plain)) == ["c"]

    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationReadError, match="no Pascal VOC"):
        read_voc_dir(tmp_path / "empty")
    write_xml(plain / "d.xml", "c.png", [])
    with pytest.raises(AnnotationReadError, match="also annotated by c.xml"):
        read_voc_dir(plain)


# --- writing -------------------------------------------------------------------------------------

def test_voc_box_is_the_smallest_box_holding_the_pixels() -> None:
    assert voc_box((0.0, 0.0, 10.0, 5.0)) == (1, 1, 10, 5)
    assert voc_box((2.3, 4.0, 7.2, 9.9)) == (3, 5, 8, 10)


def test_round_trip_and_what_voc_cannot_hold(tmp_path: Path) -> None:
    original = read_voc(write_xml(tmp_path / "in" / "a.xml", "a.jpg",
                                  [(name, (i + 1, 2, i + 30, 40)) for i, name in enumerate(["A1", "C12", "X", "Y"])]))
    assert write_voc(tmp_path / "out" / "a.xml", original) == []
    back = read_voc(tmp_path / "out" / "a.xml")
    assert back.instances == original.instances and back.key == "a" and back.image_size == (100, 80)
    names = [o.findtext("name") for o in ET.parse(tmp_path / "out" / "a.xml").getroot().iter("object")]
    assert names == ["A1", "C12", "X", "Y"]

    outline = ImageAnnotations(key="b.c", image_size=(50, 50), instances=[
        Instance(1, [[2.5, 3.0], [9.0, 3.5], [6.0, 12.2]], label="17"), Instance(2, [[1, 1], [3, 1], [2, 3]])])
    notes = write_voc(tmp_path / "out" / "b.xml", outline)
    assert len(notes) == 1 and "instance 2 has no class" in notes[0]
    back = read_voc(tmp_path / "out" / "b.xml")
    assert back.key == "b.c" and len(back.instances) == 1
    assert back.instances[0].bbox == (2.0, 3.0, 9.0, 13.0) and back.instances[0].label == "17"


# --- Taichung data -------------------------------------------------------------------------------

@pytest.mark.shared_data
def test_taichung_sample(taichung_dir: Path) -> None:
    for xml_path in sorted((taichung_dir / "annotations").glob("*.xml"))[:40]:
        ann = read_voc(xml_path)
        assert ann.key == xml_path.stem and ann.skipped == []
        assert len(ann.instances) == len(ET.parse(xml_path).getroot().findall("object"))
        assert ann.image_path == taichung_dir / "JEPG" / f"{ann.key}.jpg" and ann.image_path.is_file()
        assert ann.image_size == image_size(ann.image_path)
        width, height = ann.image_size
        for inst in ann.instances:
            x0, y0, x1, y1 = inst.bbox
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert inst.attributes[BOX_ONLY] is True


@pytest.mark.shared_data
@pytest.mark.slow
def test_all_of_taichung(taichung_dir: Path) -> None:
    start = time.perf_counter()
    annotations = read_voc_dir(taichung_dir)
    elapsed = time.perf_counter() - start
    assert len(annotations) == 3744 and elapsed < 60
    assert all(ann.skipped == [] for ann in annotations.values())
    counts = [len(ann.instances) for ann in annotations.values()]
    assert 45.5 < np.mean(counts) < 46.5
    classes = Counter(inst.label for ann in annotations.values() for inst in ann.instances)
    assert set(classes) == set(CLASS_NAMES)
    for n in range(1, 23):  # two of each autosome per cell, give or take annotation slips and trisomies
        assert abs(classes[str(n)] - 2 * 3744) < 20
    assert 3744 < classes["X"] + classes["Y"] < 2 * 3744 + 20 and classes["Y"] < 3744
    normal = [row["filename"] for row in csv.DictReader((taichung_dir / "normal.csv").open())]
    normal_counts = Counter(len(annotations[Path(name).stem].instances) for name in normal)
    assert normal_counts[46] > 0.9 * len(normal)
