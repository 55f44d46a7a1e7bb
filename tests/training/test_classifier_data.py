"""Crop datasets from Pascal VOC boxes: reading, patient split, caching."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from karyostudio.core.classes import class_index
from karyostudio.io.errors import AnnotationReadError
from karyostudio.training import classifier_data as D

VOC_OBJECT = """<object><name>{name}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>
<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"""


def write_voc_cell(root: Path, image_id: str, chromosomes: list[tuple[str, int, int, int, int]]) -> None:
    """An image with dark vertical bars and its VOC file; chromosomes are (name, x0, y0, x1, y1)."""
    (root / "JEPG").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    image = np.full((120, 160), 225, dtype=np.uint8)
    for _, x0, y0, x1, y1 in chromosomes:
        image[y0:y1, x0:x1] = 60
        image[y0 + (y1 - y0) // 3, x0:x1] = 140  # a pale band
    cv2.imwrite(str(root / "JEPG" / f"{image_id}.jpg"), image)
    objects = "".join(VOC_OBJECT.format(name=n, x0=x0, y0=y0, x1=x1, y1=y1) for n, x0, y0, x1, y1 in chromosomes)
    (root / "annotations" / f"{image_id}.xml").write_text(
        f"<annotation><filename>{image_id}.jpg</filename>{objects}</annotation>")


def toy_cells(root: Path, ids: list[str]) -> None:
    """Cells of long "1"s and short "21"s, enough to learn from."""
    for k, image_id in enumerate(ids):
        shift = 3 * (k % 4)
        write_voc_cell(root, image_id, [
            ("A1", 10 + shift, 10, 22 + shift, 90), ("A1", 40, 15 + shift, 52, 95 + shift),
            ("G21", 80 + shift, 20, 90 + shift, 45), ("G21", 110, 60 + shift, 120, 85 + shift),
        ])
    (root / "train.txt").write_text("\n".join(ids) + "\n")


def test_read_voc_boxes_reports_unknown_labels(tmp_path):
    write_voc_cell(tmp_path, "1234", [("A1", 10, 10, 20, 60), ("G21", 40, 10, 48, 30), ("Z9", 60, 10, 70, 40)])
    cell = D.read_voc_boxes(tmp_path / "annotations" / "1234.xml")
    assert cell.image_id == "1234"
    assert cell.labels == ["1", "21"]
    assert cell.boxes[0] == (10.0, 10.0, 20.0, 60.0)
    assert len(cell.skipped) == 1 and "Z9" in cell.skipped[0]
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotation><object>")
    with pytest.raises(AnnotationReadError):
        D.read_voc_boxes(bad)


def test_split_by_patient_is_deterministic_and_disjoint():
    ids = [f"{p:05d}{c}" for p in range(40) for c in range(1, 1 + p % 4 + 1)]
    train, val = D.split_by_patient(ids, 0.1, seed=0)
    assert sorted(train + val) == sorted(ids)
    assert not {D.patient_of(i) for i in train} & {D.patient_of(i) for i in val}
    assert len({D.patient_of(i) for i in val}) == 4  # 10% of 40 patients
    assert D.split_by_patient(ids, 0.1, seed=0) == (train, val)
    assert D.split_by_patient(ids, 0.1, seed=1) != (train, val)
    assert D.patient_of("1052821") == "105282"
    with pytest.raises(ValueError):
        D.split_by_patient(ids, 1.0, seed=0)


def test_build_select_and_cache(tmp_path, monkeypatch):
    root = tmp_path / "data"
    toy_cells(root, ["10001", "10002", "10011"])
    data = D.load_or_build(root, tmp_path / "cache", out_size=(32, 16))
    assert len(data) == 12 and data.crops.shape == (12, 32, 16) and data.crops.dtype == np.uint8
    assert data.image_ids == ["10001", "10002", "10011"]
    assert sorted(set(data.labels.tolist())) == [class_index("1"), class_index("21")]
    assert data.crops.max() > 200
    # Long "1"s are longer than the cell median, short "21"s shorter.
    rel = data.features[:, 0]
    assert rel[data.labels == class_index("1")].min() > rel[data.labels == class_index("21")].max()

    sub = data.select_cells(["10011"])
    assert len(sub) == 4 and sub.image_ids == ["10011"] and set(sub.cell.tolist()) == {0}

    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1 and (tmp_path / "cache" / ".gitignore").read_text() == "*\n"

    def no_build(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(D, "build_crop_dataset", no_build)
    again = D.load_or_build(root, tmp_path / "cache", out_size=(32, 16))
    np.testing.assert_array_equal(again.crops, data.crops)
    assert again.image_ids == data.image_ids
    with pytest.raises(AssertionError):  # another crop size is another cache entry
        D.load_or_build(root, tmp_path / "cache", out_size=(48, 24))


def test_build_in_two_processes_matches_one(tmp_path):
    root = tmp_path / "data"
    toy_cells(root, ["10001", "10002"])
    one = D.build_crop_dataset(root, ["10001", "10002"], out_size=(32, 16), workers=1)
    two = D.build_crop_dataset(root, ["10001", "10002"], out_size=(32, 16), workers=2)
    np.testing.assert_array_equal(one.crops, two.crops)
    np.testing.assert_array_equal(one.cell, two.cell)


def test_missing_data_is_reported(tmp_path):
    with pytest.raises(AnnotationReadError):
        D.list_image_ids(tmp_path)


@pytest.mark.shared_data
def test_real_taichung_annotations(taichung_dir):
    ids = D.list_image_ids(taichung_dir)
    assert len(ids) > 3000
    cell = D.read_voc_boxes(taichung_dir / "annotations" / f"{ids[0]}.xml")
    assert 40 <= len(cell.labels) <= 50 and not cell.skipped
    train, val = D.split_by_patient(ids, 0.1, seed=0)
    assert 0.05 < len(val) / len(ids) < 0.15
