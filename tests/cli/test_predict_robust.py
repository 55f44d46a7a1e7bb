"""predict never hangs on one image, never loses a written result and never litters its folder."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from karyostudio.cli import main
from karyostudio.core.progress import check
from karyostudio.io.atomic import STALE_TEMP_AGE_S

from tests.cli.test_predict import BoxPredictor, _cell, _summary, fake_model  # noqa: F401 - fixture


class Hanging(BoxPredictor):
    """Hangs on the image named ``hang_on``: in a loop that never checks its token, or sleeping
    in steps that do (``cooperative``)."""

    def __init__(self, hang_on: str, cooperative: bool = False):
        super().__init__()
        self.hang_on = hang_on
        self.cooperative = cooperative
        self.seen: list[int] = []

    def predict(self, image, *, progress=None, cancel=None):
        self.seen.append(image.shape[1])
        if image.shape[1] == 121:  # the image to hang on is one pixel wider
            if self.cooperative:
                while True:
                    time.sleep(0.01)
                    check(cancel)
            while True:  # a stage with no cancel check at all
                pass
        return super().predict(image, progress=progress, cancel=cancel)


@pytest.mark.parametrize("cooperative", [False, True])
def test_an_image_over_the_time_limit_fails_and_the_batch_goes_on(tmp_path, fake_model, capsys, cooperative):
    import numpy as np
    from karyostudio.io.images import write_image

    _cell(tmp_path / "a.png", 1)
    write_image(tmp_path / "b.png", np.full((80, 121), 220, np.uint8))  # the one that hangs
    _cell(tmp_path / "c.png", 2)
    fake_model["predictor"] = Hanging("b", cooperative=cooperative)
    out = tmp_path / "out"
    started = time.monotonic()
    rc = main(["predict", str(tmp_path), "--out", str(out), "--model", "fake", "--timeout", "0.5"])
    assert time.monotonic() - started < 10
    assert rc == 1
    rows = {Path(r["image"]).name: r for r in _summary(out)}
    assert rows["a.png"]["status"] == "ok" and rows["c.png"]["status"] == "ok" and rows["c.png"]["count"] == "2"
    assert rows["b.png"]["status"] == "error" and "timed out after 0.5 s" in rows["b.png"]["error"]
    assert not (out / "b.json").exists()
    assert "timed out" in capsys.readouterr().err


def test_timeout_has_a_default_and_rejects_negative_values(tmp_path, fake_model, capsys):
    from karyostudio.cli.predict import DEFAULT_TIMEOUT_S

    assert DEFAULT_TIMEOUT_S > 0
    _cell(tmp_path / "a.png", 1)
    assert main(["predict", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--model", "fake",
                 "--timeout", "-1"]) == 2
    assert "--timeout" in capsys.readouterr().err


def test_a_write_protected_output_folder_is_a_one_line_error(tmp_path, fake_model, capsys):
    _cell(tmp_path / "a.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)  # refused by its mode bits, which holds for root too
    try:
        rc = main(["predict", str(tmp_path / "a.png"), "--out", str(out), "--model", "fake"])
    finally:
        out.chmod(0o755)
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "write-protected" in err and str(out) in err and len(err.strip().splitlines()) == 1
    assert list(out.iterdir()) == []


def test_a_write_protected_summary_is_refused_not_replaced(tmp_path, fake_model, capsys):
    _cell(tmp_path / "a.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("kept\n")
    (out / "summary.csv").chmod(0o444)
    try:
        rc = main(["predict", str(tmp_path / "a.png"), "--out", str(out), "--model", "fake"])
    finally:
        (out / "summary.csv").chmod(0o644)
    err = capsys.readouterr().err
    assert rc == 2 and "summary.csv" in err and "write-protected" in err and "Traceback" not in err
    assert (out / "summary.csv").read_text() == "kept\n"


def test_output_on_a_full_disk_is_reported_per_image(tmp_path, fake_model, monkeypatch):
    """A disk that fills up during the batch: each image is an error row, not a traceback."""
    import errno

    import karyostudio.io.labelme as labelme_module
    from karyostudio.io import atomic

    _cell(tmp_path / "a.png", 1)
    real = atomic.atomic_write_text

    def full(path, text):
        if str(path).endswith(".json"):
            raise atomic._write_error(Path(path), OSError(errno.ENOSPC, "No space left on device"))
        return real(path, text)

    monkeypatch.setattr(labelme_module, "atomic_write_text", full)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a.png"), "--out", str(out), "--model", "fake"]) == 1
    [row] = _summary(out)
    assert row["status"] == "error" and "the disk is full" in row["error"] and "a.json" in row["error"]


def test_stale_temp_files_of_killed_runs_are_removed_and_live_ones_kept(tmp_path, fake_model):
    _cell(tmp_path / "a.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    dead = out / ".a.json.999999999-abcdefgh.tmp"  # a writer that no longer exists
    old = out / ".b_karyogram.png.k2j4h5g6.tmp"  # an older version's name, long untouched
    live = out / f".c.json.{os.getppid()}-zzzzzzzz.tmp"  # a writer that still runs
    fresh = out / ".d.json.q1w2e3r4.tmp"  # no process id, but just written: maybe in use
    other = out / ".hidden.tmp"  # not our pattern
    for path in (dead, old, live, fresh, other):
        path.write_bytes(b"x" * 1000)
    long_ago = time.time() - STALE_TEMP_AGE_S - 60
    os.utime(old, (long_ago, long_ago))
    assert main(["predict", str(tmp_path / "a.png"), "--out", str(out), "--model", "fake"]) == 0
    left = {p.name for p in out.iterdir()}
    assert dead.name not in left and old.name not in left
    assert {live.name, fresh.name, other.name} <= left
    assert not [name for name in left if name.endswith(".tmp") and name.startswith((".a.", ".summary"))]


def test_summary_is_rebuilt_from_results_a_killed_run_did_not_list(tmp_path, fake_model):
    for name, n in (("a", 1), ("b", 2), ("c", 3)):
        _cell(tmp_path / f"{name}.png", n)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--out", str(out),
                 "--model", "fake"]) == 0
    # What a kill between a result and its row would leave (and a row whose result is gone).
    lines = (out / "summary.csv").read_text().splitlines()
    (out / "summary.csv").write_text("\n".join(line for line in lines if "b.png" not in line) + "\n"
                                     + f'{tmp_path / "gone.png"},1,1,0,0,"45,X",0.1,ok,\n')
    assert main(["predict", str(tmp_path / "c.png"), "--out", str(out), "--model", "fake"]) == 0
    rows = {Path(r["image"]).name: r for r in _summary(out)}
    assert set(rows) == {"a.png", "b.png", "c.png"}
    assert rows["b.png"]["count"] == "2" and rows["b.png"]["status"] == "ok"
    marker = json.loads((out / "b.json").read_text())["karyostudioPrediction"]
    assert marker["count"] == 2 and marker["model"] == "fake"


def test_every_written_result_has_its_row_at_every_moment(tmp_path, fake_model, monkeypatch):
    """The row is in summary.csv before the result file appears."""
    import karyostudio.cli.predict as predict_module

    _cell(tmp_path / "a.png", 1)
    _cell(tmp_path / "b.png", 2)
    out = tmp_path / "out"
    seen = []
    real = predict_module.write_labelme

    def watching(path, ann, **kw):
        seen.append({Path(r["image"]).name for r in _summary(out)})
        real(path, ann, **kw)

    monkeypatch.setattr(predict_module, "write_labelme", watching)
    assert main(["predict", str(tmp_path), "--out", str(out), "--model", "fake"]) == 0
    assert seen == [{"a.png"}, {"a.png", "b.png"}]


def test_write_protected_result_file_is_an_error_row_and_kept(tmp_path, fake_model):
    _cell(tmp_path / "a.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.json").write_text("{}")
    (out / "a.json").chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        assert main(["predict", str(tmp_path / "a.png"), "--out", str(out), "--model", "fake"]) == 1
    finally:
        (out / "a.json").chmod(0o644)
    [row] = _summary(out)
    assert row["status"] == "error" and "write-protected" in row["error"]
    assert (out / "a.json").read_text() == "{}"


def test_training_run_folders_are_cleaned_of_stale_temp_files_too(tmp_path):
    from karyostudio.io.atomic import remove_stale_temp_files

    run = tmp_path / "run"
    (run / "export").mkdir(parents=True)
    stale = [run / ".last.pt.999999998-abcdefgh.tmp", run / "export" / ".tiny.pt.999999997-abcdefgh.tmp"]
    for path in stale:
        path.write_bytes(b"x" * 136)
    kept = run / "last.pt"
    kept.write_bytes(b"checkpoint")
    assert sorted(remove_stale_temp_files(run, depth=2)) == sorted(stale)
    assert kept.exists() and not any(p.exists() for p in stale)


def test_predict_applies_exif_orientation_and_records_it(tmp_path, fake_model):
    import io

    import numpy as np
    from PIL import Image

    from karyostudio.io.images import ORIENTATION_KEY

    stored = np.full((80, 120), 220, np.uint8)  # wide as stored, tall as shown (orientation 6)
    stored[10:20, 10:60] = 30
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="JPEG", exif=exif, quality=100)
    (tmp_path / "phone.jpg").write_bytes(buffer.getvalue())
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "phone.jpg"), "--out", str(out), "--model", "fake"]) == 0
    data = json.loads((out / "phone.json").read_text())
    assert (data["imageWidth"], data["imageHeight"]) == (80, 120)
    assert data[ORIENTATION_KEY]["exifOrientation"] == 6
    [shape] = data["shapes"]
    xs, ys = zip(*shape["points"])
    assert max(ys) - min(ys) > max(xs) - min(xs)  # the dark bar stands upright, as labelme shows it
