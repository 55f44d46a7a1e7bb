"""labelme JSON: both key styles, label schemes, skipped shapes, round trips, errors, atomic writes."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.io import atomic
from karyostudio.io.errors import AnnotationReadError, AnnotationWriteError
from karyostudio.io.labelme import read_labelme, read_labelme_image, write_labelme

TRIANGLE = [[10.0, 10.0], [30.0, 12.5], [20.0, 40.0]]


def shape(label, points=TRIANGLE, shape_type="polygon", **extra) -> dict:
    return {"label": label, "points": points, "group_id": None, "shape_type": shape_type, "flags": {}, **extra}


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(width * height, dtype=np.uint8).reshape(height, width)).save(buf, "PNG")
    return buf.getvalue()


def sample_annotations(image_path: Path | None = None) -> ImageAnnotations:
    return ImageAnnotations(
        key="cell", image_path=image_path, image_size=(64, 48),
        instances=[
            Instance(7, TRIANGLE, label="X", score=0.25, source="maskrcnn-v1", reviewed=True,
                     attributes={"cluster": False, "probabilities": [0.1, 0.9]}),
            Instance(3, [[1.5, 2.25], [9.0, 2.0], [9.0, 8.0], [1.0, 8.5], [0.5, 5.0]], label=None),
            Instance(4, [[2.0, 3.0], [12.0, 3.0], [12.0, 20.0], [2.0, 20.0]], label="22",
                     attributes={BOX_ONLY: True}),
        ])


# --- AutoKary2022 files (snake_case keys, numeric labels) ----------------------------------------

@pytest.mark.shared_data
def test_autokary_files(autokary_dir: Path) -> None:
    expected_counts = {"0_1_247_180_0.880": 46, "0_2_247_180_0.787": 44, "0_2_247_180_0.811": 37,
                       "0_2_247_180_0.880": 46}
    for json_path in sorted(autokary_dir.glob("*.json")):
        raw = json.loads(json_path.read_text())
        assert "image_path" in raw and "imagePath" not in raw  # really the snake_case style
        ann = read_labelme(json_path)
        assert ann.key == json_path.stem
        assert len(ann.instances) == expected_counts[ann.key] == len(raw["shapes"])
        assert ann.skipped == []
        assert ann.image_size == (raw["image_width"], raw["image_height"]) == (3200, 2200)
        assert ann.image_path == autokary_dir / raw["image_path"]
        assert [i.id for i in ann.instances] == list(range(1, len(ann.instances) + 1))
        raw_labels = Counter(s["label"] for s in raw["shapes"])
        labels = Counter(i.label for i in ann.instances)
        assert labels["X"] == raw_labels["23"] and labels["Y"] == raw_labels["24"]
        assert labels["1"] == raw_labels["1"] and "23" not in labels and "24" not in labels
        np.testing.assert_array_equal(ann.instances[0].polygon, raw["shapes"][0]["points"])
        assert all(i.source == "manual" and i.score is None for i in ann.instances)


@pytest.mark.shared_data
def test_autokary_x_and_y_in_a_male_cell(autokary_dir: Path) -> None:
    ann = read_labelme(autokary_dir / "0_1_247_180_0.880.json")
    labels = Counter(i.label for i in ann.instances)
    assert labels["X"] == 1 and labels["Y"] == 1
    assert all(labels[str(n)] == 2 for n in range(1, 23))


# --- reading -------------------------------------------------------------------------------------

def test_invalid_labels_are_reported_and_skipped(tmp_path: Path) -> None:
    path = write_json(tmp_path / "cell.json", {
        "imagePath": "cell.png", "imageHeight": 48, "imageWidth": 64,
        "shapes": [shape("1"), shape("-1"), shape("23"), shape(119), shape("foo"), shape("A3"), shape("y")],
    })
    ann = read_labelme(path)
    assert [i.label for i in ann.instances] == ["1", "X", "3", "Y"]
    assert [i.id for i in ann.instances] == [1, 2, 3, 4]
    assert len(ann.skipped) == 3
    assert "shape 2 of 7" in ann.skipped[0] and "'-1'" in ann.skipped[0]
    assert "shape 4 of 7" in ann.skipped[1] and "119" in ann.skipped[1]
    assert "shape 5 of 7" in ann.skipped[2] and "'foo'" in ann.skipped[2]
    assert all("skipped" in line for line in ann.skipped)


def test_shape_types(tmp_path: Path) -> None:
    path = write_json(tmp_path / "cell.json", {"imagePath": "cell.png", "shapes": [
        shape("2", [[30.0, 40.0], [10.0, 5.0]], "rectangle"),
        shape("2", [[1.0, 1.0]], "point"),
        shape("2", [[1.0, 1.0], [5.0, 5.0]], "line"),
        shape("2", [[1.0, 1.0], [5.0, 5.0]], "circle"),
        shape("2", [[1.0, 1.0], [5.0, 5.0]], "polygon"),
        shape("2", [[3.0, 3.0], [3.0, 9.0]], "rectangle"),
        {"label": "5", "points": TRIANGLE},  # labelme 3 files have no shape_type: a polygon
    ]})
    ann = read_labelme(path)
    box, triangle = ann.instances
    assert box.attributes == {BOX_ONLY: True}
    np.testing.assert_array_equal(box.polygon, [[10, 5], [30, 5], [30, 40], [10, 40]])
    assert triangle.label == "5" and not triangle.attributes
    assert not ann.has_masks
    reasons = "\n".join(ann.skipped)
    assert len(ann.skipped) == 5
    for word in ("'point'", "'line'", "'circle'", "at least 3 points, found 2", "no area"):
        assert word in reasons


def test_unlabelled_shapes_are_kept_without_class(tmp_path: Path) -> None:
    path = write_json(tmp_path / "cell.json", {"shapes": [shape(""), shape("unlabeled"), shape(None)]})
    ann = read_labelme(path)
    assert [i.label for i in ann.instances] == [None, None, None]
    assert ann.skipped == []
    assert ann.key == "cell" and ann.image_path is None and ann.image_size is None


def test_size_from_embedded_image_and_image_loading(tmp_path: Path) -> None:
    data = png_bytes(12, 7)
    path = write_json(tmp_path / "a.json", {"imagePath": "missing.png", "imageData": base64.b64encode(data).decode(),
                                            "shapes": []})
    assert read_labelme(path).image_size == (12, 7)
    np.testing.assert_array_equal(read_labelme_image(path), np.arange(84, dtype=np.uint8).reshape(7, 12))

    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "b.png").write_bytes(png_bytes(5, 4))
    path = write_json(tmp_path / "b.json", {"imagePath": "img/b.png", "shapes": []})
    ann = read_labelme(path)
    assert ann.image_size == (5, 4) and ann.key == "b"
    assert read_labelme_image(path).shape == (4, 5)
    path = write_json(tmp_path / "c.json", {"imagePath": "nowhere.png", "shapes": []})
    assert read_labelme_image(path) is None


def test_windows_image_paths(tmp_path: Path) -> None:
    path = write_json(tmp_path / "x.json", {"imagePath": "..\\images\\103064.jpg", "shapes": []})
    ann = read_labelme(path)
    assert ann.key == "103064"
    assert ann.image_path == tmp_path.parent / "images" / "103064.jpg"


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    ("", "empty"),
    ("[1, 2]", "found a JSON list"),
    ('{"imagePath": "a.png"}', "no 'shapes'"),
    ('{"shapes": {}}', "'shapes' must be a list"),
    ('{"shapes": [3]}', "shape 1 of 1 must be a JSON object"),
    ('{"shapes": [{"label": "1", "points": "abc"}]}', "'points' must be a list"),
    ('{"shapes": [{"label": "1", "points": [[1, "a"], [2, 2], [3, 1]]}]}', "number pairs"),
    ('{"shapes": [{"label": "1", "points": [[1, NaN], [2, 2], [3, 1]]}]}', "non-finite"),
    ('{"shapes": [{"label": ["1"], "points": []}]}', "label must be a string"),
    ('{"shapes": [], "imageHeight": -4, "imageWidth": 3}', "'imageHeight' must be a positive integer"),
    ('{"shapes": [], "imageData": "!!!notbase64"}', "imageData"),
    ('{"shapes": [], "imagePath": 5}', "'imagePath' must be a string"),
])
def test_malformed_files_give_clear_errors(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(AnnotationReadError) as info:
        read_labelme(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(AnnotationReadError, match="no such file"):
        read_labelme(tmp_path / "none.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(AnnotationReadError, match="UTF-8"):
        read_labelme(tmp_path / "bin.json")


def test_invalid_extra_fields_are_reported(tmp_path: Path) -> None:
    path = write_json(tmp_path / "a.json", {"shapes": [shape("1", score=1.5), shape("2", reviewed="yes"),
                                                      shape("3", score=0.5)]})
    ann = read_labelme(path)
    assert [i.label for i in ann.instances] == ["3"] and ann.instances[0].score == 0.5
    assert "score 1.5" in ann.skipped[0] and "reviewed 'yes'" in ann.skipped[1]


# --- writing -------------------------------------------------------------------------------------

def test_round_trip_keeps_everything(tmp_path: Path) -> None:
    original = sample_annotations(tmp_path / "images" / "cell.png")
    original.extra = {"flags": {"checked": True}, "lab": {"slide": 12}}
    write_labelme(tmp_path / "json" / "cell.json", original)
    back = read_labelme(tmp_path / "json" / "cell.json")
    assert back.instances == original.instances  # ids, polygons, labels, scores, sources, flags, attributes
    assert back.key == "cell" and back.image_size == (64, 48)
    assert back.image_path == tmp_path / "images" / "cell.png"
    assert back.extra == original.extra and back.skipped == []


def test_written_file_layout(tmp_path: Path) -> None:
    write_labelme(tmp_path / "out" / "cell.json", sample_annotations(tmp_path / "cell.png"))
    data = json.loads((tmp_path / "out" / "cell.json").read_text())
    assert list(data) == ["version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"]
    assert data["imagePath"] == "../cell.png" and data["imageData"] is None
    assert (data["imageWidth"], data["imageHeight"]) == (64, 48)
    polygon, unnamed, box = data["shapes"]
    assert polygon["shape_type"] == "polygon" and polygon["label"] == "X"
    assert polygon["score"] == 0.25 and polygon["source"] == "maskrcnn-v1" and polygon["reviewed"] is True
    assert polygon["instance_id"] == 7 and polygon["attributes"] == {"cluster": False, "probabilities": [0.1, 0.9]}
    assert unnamed["label"] == "unlabeled" and "score" not in unnamed and "attributes" not in unnamed
    assert box["shape_type"] == "rectangle" and box["points"] == [[2.0, 3.0], [12.0, 20.0]]
    assert "attributes" not in box  # box-only is what a rectangle means


def test_foreign_shape_fields_survive(tmp_path: Path) -> None:
    path = write_json(tmp_path / "a.json", {"imagePath": "a.png", "version": "4.5.6", "shapes": [
        shape("1", group_id=3, description="bent", flags={"odd": True}, colour="red")]})
    ann = read_labelme(path)
    write_labelme(tmp_path / "b.json", ann)
    written = json.loads((tmp_path / "b.json").read_text())["shapes"][0]
    assert written["group_id"] == 3 and written["description"] == "bent"
    assert written["flags"] == {"odd": True} and written["colour"] == "red"
    assert read_labelme(tmp_path / "b.json").instances == ann.instances


def test_embedding_image_data(tmp_path: Path) -> None:
    ann = sample_annotations()
    ann.image_size = None
    write_labelme(tmp_path / "a.json", ann, image_data=png_bytes(20, 10))
    data = json.loads((tmp_path / "a.json").read_text())
    assert (data["imageWidth"], data["imageHeight"]) == (20, 10) and data["imagePath"] == ""
    assert read_labelme_image(tmp_path / "a.json").shape == (10, 20)
    ann.image_size = (64, 48)
    with pytest.raises(AnnotationWriteError, match="20 x 10 px"):
        write_labelme(tmp_path / "b.json", ann, image_data=png_bytes(20, 10))
    assert not (tmp_path / "b.json").exists()


def test_unserialisable_attributes_write_nothing(tmp_path: Path) -> None:
    ann = sample_annotations()
    ann.instances.append(Instance(9, TRIANGLE, label="1", attributes={"bad": object()}))
    with pytest.raises(AnnotationWriteError, match="JSON cannot store"):
        write_labelme(tmp_path / "a.json", ann)
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cell.json"
    write_labelme(target, sample_annotations())
    before = target.read_text()
    changed = sample_annotations()
    changed.instances = changed.instances[:1]

    def crash(src, dst) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        write_labelme(target, changed)
    assert target.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cell.json"]
