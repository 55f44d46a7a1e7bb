import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from karyostudio.cli import main
from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon
from karyostudio.io.images import write_image
from karyostudio.io.labelme import read_labelme
from karyostudio.models import manifest as manifest_module
from karyostudio.models import registry


class BoxPredictor:
    """Each dark connected component becomes a box instance, named "1", "2", ... in turn."""

    name = "fake"
    description = "dark components as boxes"

    def __init__(self, manifest=None, device="cpu", fail_on: int | None = None):
        self.calls = 0
        self.fail_on = fail_on

    def predict(self, image, *, progress=None, cancel=None):
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise KeyboardInterrupt
        n, _, stats, _ = cv2.connectedComponentsWithStats((image < 128).astype(np.uint8))
        out = []
        for k in range(1, n):
            x, y, w, h = stats[k, :4]
            out.append(Instance(k, box_to_polygon((x, y, x + w, y + h)), label=CLASS_NAMES[k - 1],
                                score=0.8, source=self.name))
        if progress:
            progress(1, 1, "done")
        return out


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """Register model "fake" (BoxPredictor); returns a setter to swap the predictor instance."""
    monkeypatch.setenv("KARYOSTUDIO_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.setattr(manifest_module, "REPO_MODELS_DIR", tmp_path / "no-repo-models")
    monkeypatch.setattr(registry, "FAMILIES", dict(registry.FAMILIES))
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    holder = {"predictor": BoxPredictor()}
    registry.register_family("fake", lambda manifest, device: holder["predictor"], needs_weights=False)
    registry.register_model("fake", "fake", "test model")
    return holder


def _cell(path: Path, n: int) -> None:
    image = np.full((80, 120), 220, np.uint8)
    for k in range(n):
        image[10:60, 5 + 15 * k: 12 + 15 * k] = 30
    write_image(path, image)


def _summary(out: Path) -> list[dict]:
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_batch_writes_json_karyograms_and_summary_and_survives_a_bad_file(tmp_path, fake_model, capsys):
    images = tmp_path / "images"
    images.mkdir()
    _cell(images / "b.png", 3)
    _cell(images / "a.tif", 2)
    (images / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (images / "notes.txt").write_text("ignored: not an image")
    out = tmp_path / "out"
    rc = main(["predict", str(images), "--out", str(out), "--model", "fake"])
    assert rc == 1
    rows = _summary(out)
    assert [Path(r["image"]).name for r in rows] == ["a.tif", "b.png", "corrupt.jpg"]
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    assert [r["count"] for r in rows[:2]] == ["2", "3"]
    assert rows[0]["karyotype"].startswith("2,U,")
    assert "corrupt.jpg" in rows[2]["error"] and float(rows[2]["seconds"]) >= 0
    assert "corrupt.jpg" in capsys.readouterr().err

    ann = read_labelme(out / "b.json")
    assert [inst.label for inst in ann.instances] == ["1", "2", "3"]
    assert all(inst.score == pytest.approx(0.8) for inst in ann.instances)
    assert ann.image_path.resolve() == (images / "b.png").resolve()
    raw = json.loads((out / "b.json").read_text())
    assert raw["imagePath"] == "../images/b.png" and raw["imageWidth"] == 120
    karyogram = cv2.imread(str(out / "b_karyogram.png"))
    assert karyogram is not None and karyogram.ndim == 3
    assert not (out / "corrupt.json").exists() and not (out / "corrupt_karyogram.png").exists()


def test_all_good_exits_zero_and_no_karyogram_option(tmp_path, fake_model):
    _cell(tmp_path / "one.png", 1)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "one.png"), "--out", str(out), "--model", "fake", "--no-karyogram"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one.json", "summary.csv"]


def test_summary_keeps_finished_images_when_the_batch_is_interrupted(tmp_path, fake_model):
    for name in ("a", "b", "c"):
        _cell(tmp_path / f"{name}.png", 1)
    fake_model["predictor"] = BoxPredictor(fail_on=2)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path), "--out", str(out), "--model", "fake"]) == 130
    rows = _summary(out)
    assert [(Path(r["image"]).name, r["status"]) for r in rows] == [("a.png", "ok")]
    assert (out / "a.json").exists() and not (out / "b.json").exists()


def test_unknown_model_is_a_usage_error_listing_models(tmp_path, fake_model, capsys):
    _cell(tmp_path / "one.png", 1)
    assert main(["predict", str(tmp_path / "one.png"), "--out", str(tmp_path / "o"), "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'" in err and "default-cpu" in err and "fake" in err
    assert not (tmp_path / "o").exists()


def test_missing_input_and_empty_folder_are_usage_errors(tmp_path, fake_model, capsys):
    assert main(["predict", str(tmp_path / "absent.png"), "--out", str(tmp_path / "o"), "--model", "fake"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--model", "fake"]) == 2
    assert "no image files" in capsys.readouterr().err


def test_same_stem_twice_is_refused(tmp_path, fake_model, capsys):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        _cell(tmp_path / folder / "cell.png", 1)
    rc = main(["predict", str(tmp_path / "x"), str(tmp_path / "y"), "--out", str(tmp_path / "o"), "--model", "fake"])
    assert rc == 2 and "cell.json" in capsys.readouterr().err


def test_cuda_without_a_gpu_is_a_usage_error(tmp_path, fake_model, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _cell(tmp_path / "one.png", 1)
    assert main(["predict", str(tmp_path / "one.png"), "--out", str(tmp_path / "o"), "--model", "fake",
                 "--device", "cuda"]) == 2
    assert "--device cpu" in capsys.readouterr().err


def test_default_model_not_installed_says_where_it_looked(tmp_path, fake_model, capsys):
    _cell(tmp_path / "one.png", 1)
    assert main(["predict", str(tmp_path / "one.png"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "default-cpu" in err and "not installed" in err and "no-repo-models" in err


class ClusterPredictor(BoxPredictor):
    """BoxPredictor whose last component is an unsplit cluster and the one before it unnamed."""

    def predict(self, image, *, progress=None, cancel=None):
        out = super().predict(image, progress=progress, cancel=cancel)
        out[-1] = out[-1].with_(label=None, attributes={"cluster": True})
        out[-2] = out[-2].with_(label=None)
        return out


def test_summary_count_agrees_with_the_karyotype_and_lists_clusters_apart(tmp_path, fake_model):
    _cell(tmp_path / "c.png", 5)
    fake_model["predictor"] = ClusterPredictor()
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "c.png"), "--out", str(out), "--model", "fake"]) == 0
    row = _summary(out)[0]
    assert (row["count"], row["named"], row["unnamed"], row["clusters"]) == ("4", "3", "1", "1")
    assert row["karyotype"].split(",")[0] == row["count"] and row["karyotype"].endswith("+mar")
    marker = json.loads((out / "c.json").read_text())["karyostudioPrediction"]
    assert (marker["count"], marker["named"], marker["unnamed"], marker["clusters"]) == (4, 3, 1, 1)
    karyogram = cv2.imread(str(out / "c_karyogram.png"))
    assert karyogram.shape[1] > karyogram.shape[0]  # the landscape page


def test_an_image_with_a_handful_of_objects_is_reported_as_no_metaphase(tmp_path, fake_model, capsys):
    _cell(tmp_path / "specks.png", 2)
    wide = np.full((80, 400), 220, np.uint8)
    for k in range(12):
        wide[10:60, 5 + 30 * k: 15 + 30 * k] = 30
    write_image(tmp_path / "twelve.png", wide)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "specks.png"), str(tmp_path / "twelve.png"), "--out", str(out),
                 "--model", "fake"]) == 0
    err = capsys.readouterr().err
    assert "specks.png: no metaphase found (2 objects)" in err
    assert "twelve.png: no metaphase" not in err
    assert [r["status"] for r in _summary(out)] == ["ok", "ok"]  # a verdict on the cell, not a failure
