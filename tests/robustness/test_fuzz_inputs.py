"""Bad inputs a new user meets, one case each: every one gets a clear message or keeps its data.

Each test builds real files (labelme JSON, Pascal VOC XML, COCO JSON, images written with Pillow)
and runs the real command or reader; none of them may end in a traceback or lose data silently.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from karyostudio.cli import main
from karyostudio.io.annotation_set import load_annotation_set
from karyostudio.io.coco_rle import decode_rle
from karyostudio.io.errors import AnnotationReadError, FormatError
from karyostudio.io.images import write_image
from karyostudio.io.labelme import read_labelme

W, H = 200, 150


def square(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size]]


def shape(label, points, shape_type="polygon") -> dict:
    return {"label": label, "points": points, "group_id": None, "shape_type": shape_type, "flags": {}}


def write_labelme(path: Path, shapes: list[dict], *, width=W, height=H, image_path: str | None = None,
                  image_data: bytes | None = None) -> Path:
    data = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image_path or "",
            "imageData": base64.b64encode(image_data).decode() if image_data else None,
            "imageHeight": height, "imageWidth": width}
    path.write_text(json.dumps(data))
    return path


def good_shapes() -> list[dict]:
    return [shape("1", square(10, 10, 30)), shape("2", square(60, 10, 30)), shape("X", square(110, 60, 30))]


def error_lines(err: str) -> list[str]:
    """The lines of stderr that are not progress bars (tqdm redraws with carriage returns)."""
    return [line for line in err.replace("\r", "\n").splitlines() if line.strip() and "%|" not in line]


def evaluate(gt: Path, pred: Path, capsys) -> tuple[int, str, str]:
    rc = main(["evaluate", "--gt", str(gt), "--pred", str(pred)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# --- evaluate reports what the readers skipped -----------------------------------------------------

@pytest.mark.parametrize("label", ["-1", "119", "0", "25", "chr1"])
def test_evaluate_reports_each_unknown_label(tmp_path, capsys, label):
    gt = write_labelme(tmp_path / "gt.json", good_shapes() + [shape(label, square(150, 100, 20))])
    (tmp_path / "p").mkdir()
    pred = write_labelme(tmp_path / "p" / "gt.json", good_shapes())
    rc, out, err = evaluate(gt, pred, capsys)
    assert rc == 0 and "mAP" in out
    assert f"unknown chromosome label {label!r}; skipped" in err
    assert "1 shape(s) skipped" in err


def test_evaluate_reports_broken_and_non_outline_shapes(tmp_path, capsys):
    shapes = good_shapes() + [
        shape("3", [[1, 1], [5, 5]]),  # a polygon of 2 points
        {**shape("4", [[50, 50], [60, 60]]), "shape_type": "circle"},
        {**shape("5", [[50, 50], [60, 60]]), "shape_type": "line"},
        {**shape("6", [[50, 50]]), "shape_type": "point"},
    ]
    gt = write_labelme(tmp_path / "cell.json", shapes)
    (tmp_path / "p").mkdir()
    rc, out, err = evaluate(gt, write_labelme(tmp_path / "p" / "cell.json", good_shapes()), capsys)
    assert rc == 0
    assert "needs at least 3 points, found 2" in err
    for kind in ("circle", "line", "point"):
        assert f"shape type {kind!r} is not a chromosome outline" in err
    assert "4 shape(s) skipped" in err


def test_evaluate_with_every_label_unknown_is_refused_not_scored_zero(tmp_path, capsys):
    gt = write_labelme(tmp_path / "cell.json", [shape(lb, square(10 + 40 * k, 10, 30))
                                                for k, lb in enumerate(["-1", "119", "chr1"])])
    (tmp_path / "p").mkdir()
    rc, out, err = evaluate(gt, write_labelme(tmp_path / "p" / "cell.json", good_shapes()), capsys)
    assert rc == 2 and "mAP" not in out
    assert "every one of the 3 shape(s) of the ground truth was skipped" in err and "'119'" in err


def _voc(path: Path, objects: list[tuple[str, tuple[int, int, int, int]]]) -> Path:
    body = "".join(f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
                   f"<ymax>{b[3]}</ymax></bndbox></object>" for n, b in objects)
    path.write_text(f"<annotation><filename>{path.stem}.jpg</filename><size><width>{W}</width>"
                    f"<height>{H}</height><depth>1</depth></size>{body}</annotation>")
    return path


def test_evaluate_reports_voc_unknown_classes_and_inverted_boxes(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    _voc(tmp_path / "gt" / "101.xml", [("A1", (11, 11, 40, 40)), ("Q7", (50, 50, 60, 60)),
                                       ("B4", (90, 10, 70, 30))])
    _voc(tmp_path / "pred" / "101.xml", [("A1", (11, 11, 40, 40))])
    rc, out, err = evaluate(tmp_path / "gt", tmp_path / "pred", capsys)
    assert rc == 0
    assert "unknown chromosome class name 'Q7'; skipped" in err
    assert "(90, 10, 70, 30) has no area (xmin > xmax" in err


def _coco(path: Path, annotations: list[dict], categories=None) -> Path:
    data = {"images": [{"id": 1, "file_name": "cell.png", "width": W, "height": H}],
            "annotations": annotations,
            "categories": categories if categories is not None else
            [{"id": i + 1, "name": n} for i, n in enumerate([str(k) for k in range(1, 23)] + ["X", "Y"])]}
    path.write_text(json.dumps(data))
    return path


def _ann(i: int, segmentation, category=1, bbox=None) -> dict:
    return {"id": i, "image_id": 1, "category_id": category, "segmentation": segmentation,
            "bbox": bbox or [10, 10, 20, 20], "area": 400, "iscrowd": 0}


def test_evaluate_reports_garbage_coco_segmentations(tmp_path, capsys):
    gt = _coco(tmp_path / "gt.json", [
        _ann(1, [[10, 10, 40, 10, 40, 40, 10, 40]]),
        _ann(2, [[1, 2, 3]]),  # an odd number of values
        _ann(3, [["a", "b", "c", "d", "e", "f"]]),  # not numbers
        _ann(4, {"size": [H, W], "counts": "!!!"}),  # a broken compressed RLE
        _ann(5, "garbage"),
    ])
    pred = _coco(tmp_path / "pred.json", [_ann(1, [[10, 10, 40, 10, 40, 40, 10, 40]])])
    rc, out, err = evaluate(gt, pred, capsys)
    assert rc == 0
    assert err.count("; skipped") >= 4 and "4 shape(s) skipped" in err
    assert "flat list of at least 3 x, y pairs" in err and "unreadable segmentation of type str" in err


# --- geometry is checked -----------------------------------------------------------------------------

def test_geometry_is_clipped_repaired_or_reported(tmp_path):
    shapes = [
        shape("1", square(10, 10, 30)),  # fine: kept exactly
        shape("2", [[0, 0], [20, 20], [40, 40]]),  # zero area
        shape("3", [[50, 50], [80, 80], [80, 50], [50, 80]]),  # a bow-tie
        shape("4", [[100, 100], [1e9, 100], [1e9, 1e9], [100, 1e9]]),  # coordinates at 1e9
        shape("5", square(500, 500, 30)),  # wholly outside the image
    ]
    ann = read_labelme(write_labelme(tmp_path / "cell.json", shapes))
    report = "\n".join(ann.skipped)
    assert [i.label for i in ann.instances] == ["1", "3", "4"]
    assert np.array_equal(ann.instances[0].polygon, np.array(square(10, 10, 30), float))
    assert "shape 2 of 5" in report and "has no area" in report
    assert "shape 3 of 5" in report and "bow-tie" in report and "repaired" in report
    assert "shape 4 of 5" in report and "clipped to the image" in report
    assert "shape 5 of 5" in report and "wholly outside the 200 x 150 image" in report
    bow = ann.instances[1].polygon
    assert len(bow) >= 3 and bow[:, 1].max() <= 80
    clipped = ann.instances[2].polygon
    assert clipped.max(axis=0).tolist() == [W, H] and clipped.min(axis=0).tolist() == [100, 100]


def test_image_size_that_contradicts_the_image_is_reported_and_corrected(tmp_path):
    write_image(tmp_path / "cell.png", np.full((H, W), 200, np.uint8))
    ann = read_labelme(write_labelme(tmp_path / "cell.json", good_shapes(), width=640, height=480,
                                     image_path="cell.png"))
    assert ann.image_size == (W, H)
    assert any("640 x 480" in line and f"{W} x {H}" in line for line in ann.skipped)


def test_coco_image_size_that_contradicts_the_image_is_reported(tmp_path):
    write_image(tmp_path / "cell.png", np.full((H, W), 200, np.uint8))
    data = json.loads(_coco(tmp_path / "gt.json", [_ann(1, [[10, 10, 40, 10, 40, 40]])]).read_text())
    data["images"][0].update(width=H, height=W)  # swapped
    (tmp_path / "gt.json").write_text(json.dumps(data))
    ann = load_annotation_set(tmp_path / "gt.json")["cell"]
    assert ann.image_size == (W, H) and "width and height swapped" in ann.skipped[0]


def test_a_huge_rle_is_refused_without_allocating_it():
    started = time.monotonic()
    with pytest.raises(ValueError, match="200000 x 200000 is beyond what karyostudio reads"):
        decode_rle({"size": [200000, 200000], "counts": [40_000_000_000]})
    assert time.monotonic() - started < 1.0


def test_a_huge_rle_in_a_coco_file_is_one_skipped_shape(tmp_path, capsys):
    gt = _coco(tmp_path / "gt.json", [_ann(1, [[10, 10, 40, 10, 40, 40, 10, 40]]),
                                      _ann(2, {"size": [200000, 200000], "counts": [40_000_000_000]})])
    rc = main(["convert", str(gt), "--to", "labelme", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0 and "Traceback" not in err and "200000 x 200000" in err
    assert len(read_labelme(tmp_path / "out" / "cell.json").instances) == 1


# --- COCO ids -----------------------------------------------------------------------------------------

def test_coco_category_declared_twice_is_refused(tmp_path, capsys):
    gt = _coco(tmp_path / "gt.json", [_ann(1, [[10, 10, 40, 10, 40, 40]])],
               categories=[{"id": 1, "name": "1"}, {"id": 2, "name": "2"}, {"id": 1, "name": "Y"}])
    with pytest.raises(AnnotationReadError, match=r"category id 1 is declared twice \(as '1' and as 'Y'\)"):
        load_annotation_set(gt)
    assert main(["convert", str(gt), "--to", "labelme", "--out", str(tmp_path / "o")]) == 2
    assert "declared twice" in capsys.readouterr().err


def test_coco_duplicate_annotation_ids_are_refused(tmp_path):
    gt = _coco(tmp_path / "gt.json", [_ann(7, [[10, 10, 40, 10, 40, 40]]), _ann(7, [[60, 60, 90, 60, 90, 90]])])
    with pytest.raises(AnnotationReadError, match="annotation id 7 is used twice"):
        load_annotation_set(gt)


# --- convert keeps data and refuses to overwrite what it must not ---------------------------------------

def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((H, W), 180, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_convert_to_labelme_keeps_an_embedded_image_that_is_the_only_copy(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    # imagePath names a file that is not there: the embedded image is the only copy.
    write_labelme(tmp_path / "src" / "cell.json", good_shapes(), image_path="cell.png", image_data=_png_bytes())
    assert main(["convert", str(tmp_path / "src"), "--to", "labelme", "--out", str(tmp_path / "out")]) == 0
    written = json.loads((tmp_path / "out" / "cell.json").read_text())
    assert written["imageData"] is not None
    assert base64.b64decode(written["imageData"]) == _png_bytes()
    # Formats that cannot hold it say so.
    assert main(["convert", str(tmp_path / "src"), "--to", "coco", "--out", str(tmp_path / "c.json")]) == 0
    assert "exists only as the imageData" in capsys.readouterr().err


def test_convert_refuses_to_replace_a_write_protected_file(tmp_path, capsys):
    write_labelme(tmp_path / "cell.json", good_shapes())
    out = tmp_path / "out.json"
    out.write_text("precious")
    out.chmod(0o444)
    try:
        rc = main(["convert", str(tmp_path / "cell.json"), "--to", "coco", "--out", str(out)])
    finally:
        mode = stat.S_IMODE(out.stat().st_mode)
        out.chmod(0o644)
    err = capsys.readouterr().err
    assert rc == 2 and "write-protected" in err and "Traceback" not in err
    assert out.read_text() == "precious" and mode == 0o444


def test_convert_into_a_read_only_folder_is_a_one_line_error(tmp_path, capsys):
    write_labelme(tmp_path / "cell.json", good_shapes())
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        rc = main(["convert", str(tmp_path / "cell.json"), "--to", "labelme", "--out", str(out)])
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert rc == 2 and len(error_lines(err)) == 1 and "write-protected" in err and str(out) in err


def test_convert_onto_a_full_disk_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    import tempfile

    write_labelme(tmp_path / "cell.json", good_shapes())

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    rc = main(["convert", str(tmp_path / "cell.json"), "--to", "labelme", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and "the disk is full" in err
    assert len(error_lines(err)) == 1


# --- train refuses data with no usable label -------------------------------------------------------------

def test_train_on_a_folder_with_only_unknown_labels_is_refused(tmp_path, capsys):
    data = tmp_path / "cells"
    data.mkdir()
    image = np.full((128, 128), 210, np.uint8)
    for k in range(3):
        write_image(data / f"c{k}.png", image)
        write_labelme(data / f"c{k}.json", [shape(lb, square(10 + 30 * j, 10, 20))
                                            for j, lb in enumerate(["-1", "119", "chr1"])],
                      width=128, height=128, image_path=f"c{k}.png")
    from tests.training.test_engine import tiny_settings

    settings = tiny_settings(tmp_path / "run", steps=1)
    settings["data"]["mask_sources"] = [{"kind": "labelme", "path": str(data), "val_fraction": 0.0}]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings))
    rc = main(["train", str(config), "--out", str(tmp_path / "run"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "no usable training data" in err and "'119'" in err and "nothing was trained" in err
    assert not list((tmp_path / "run").rglob("*.manifest.json")) and not list((tmp_path / "run").rglob("*.pt"))


def test_train_into_a_read_only_folder_is_a_one_line_error(tmp_path, capsys):
    from tests.training.test_engine import tiny_settings

    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tiny_settings(out, steps=1)))
    try:
        rc = main(["train", str(config), "--out", str(out / "run"), "--device", "cpu"])
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and "cannot write the training run" in err
    assert len(error_lines(err)) == 1 and not (out / "run").exists()


# --- our own: random damage to real files never escapes as anything but a FormatError -------------------

def _valid_files(tmp_path: Path) -> list[Path]:
    files = [write_labelme(tmp_path / "a.json", good_shapes(), image_data=_png_bytes()),
             _coco(tmp_path / "b.json", [_ann(1, [[10, 10, 40, 10, 40, 40, 10, 40]]),
                                         _ann(2, {"size": [H, W], "counts": [100, 50, W * H - 150]})]),
             _voc(tmp_path / "c.xml", [("A1", (11, 11, 40, 40)), ("X", (50, 50, 80, 90))])]
    return files


def test_randomly_damaged_annotation_files_fail_cleanly(tmp_path):
    rng = np.random.default_rng(2026)
    outcomes = {"read": 0, "refused": 0}
    for source in _valid_files(tmp_path):
        original = source.read_bytes()
        for trial in range(60):
            data = bytearray(original)
            how = trial % 3
            if how == 0:  # truncate
                data = data[: int(rng.integers(0, len(data)))]
            elif how == 1:  # flip a few bytes
                for pos in rng.integers(0, len(data), 4):
                    data[pos] = int(rng.integers(0, 256))
            else:  # splice in a hostile token
                token = rng.choice([b"1e309", b"-1", b"null", b"[]", b"{}", b'"x"', b"true", b"999999999999"])
                pos = int(rng.integers(0, len(data)))
                data[pos:pos + len(token)] = token
            damaged = tmp_path / f"damaged{source.suffix}"
            damaged.write_bytes(bytes(data))
            try:
                load_annotation_set(damaged)
                outcomes["read"] += 1
            except FormatError:
                outcomes["refused"] += 1
    assert outcomes["refused"] > 20 and outcomes["read"] > 5  # both paths were exercised


def test_randomly_damaged_images_fail_cleanly(tmp_path):
    from karyostudio.io.errors import ImageReadError
    from karyostudio.io.images import encode_image, decode_image

    rng = np.random.default_rng(7)
    cell = (rng.random((60, 80)) * 255).astype(np.uint8)
    for suffix in (".png", ".jpg", ".tif"):
        original = encode_image(cell, suffix)
        for trial in range(40):
            data = bytearray(original)
            if trial % 2:
                data = data[: int(rng.integers(1, len(data)))]
            else:
                for pos in rng.integers(0, len(data), 6):
                    data[pos] = int(rng.integers(0, 256))
            try:
                image = decode_image(bytes(data), source=f"damaged{suffix}")
                assert image.ndim == 2 and image.dtype in (np.uint8, np.uint16)
            except ImageReadError:
                pass


def test_os_access_semantics_hold_for_root_too(tmp_path):
    """Write protection is judged by the owner's write bit as well as os.access, so running as root
    (where os.access says yes to everything) still refuses a 0444 file."""
    from karyostudio.io.atomic import check_replaceable
    from karyostudio.io.errors import FileWriteError

    target = tmp_path / "t.json"
    target.write_text("x")
    check_replaceable(target)
    target.chmod(0o444)
    try:
        with pytest.raises(FileWriteError, match="write-protected"):
            check_replaceable(target)
        if os.geteuid() == 0:
            assert os.access(target, os.W_OK)  # what a check on os.access alone would have believed
    finally:
        target.chmod(0o644)
