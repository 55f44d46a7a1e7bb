"""`karyostudio gui --screenshot`: once end to end in a subprocess, the other cases in-process."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from karyostudio.cli import CommandError
from karyostudio.cli import gui as gui_command
from karyostudio.gui.app import SCREENSHOT_SIZE


def run_in_process(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    gui_command.add_arguments(parser)
    return gui_command.run(parser.parse_args(argv))


@pytest.mark.slow  # starts a fresh interpreter (the CLI imports torch): ~5 s
def test_screenshot_of_a_file_through_the_entry_point(image_file: Path, tmp_path: Path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KARYOSTUDIO_RECOVERY_DIR": str(tmp_path / "recovery"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "karyostudio", "gui", str(image_file), "--screenshot", str(out)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as shot:
        assert shot.size == SCREENSHOT_SIZE
        assert len(np.unique(np.asarray(shot.convert("L")))) > 10  # the window really rendered
    assert not list((tmp_path / "recovery").glob("*.json"))  # a screenshot run leaves no recovery file


def test_auto_with_a_broken_model_still_screenshots_and_fails(image_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "shot.png"
    status = run_in_process(str(image_file), "--model", str(tmp_path / "missing.manifest.json"), "--auto",
                            "--screenshot", str(out))
    assert status == 1
    assert "Model run failed" in capsys.readouterr().err and out.is_file()


def test_the_screenshot_shows_the_karyogram_up_to_date(tmp_path: Path, monkeypatch):
    """The karyogram beside the metaphase has placed every chromosome when the window is grabbed."""
    from karyostudio.core.cell_count import count_cell
    from karyostudio.gui import app as gui_app

    sample = Path(gui_app.SAMPLES_DIR) / "sample_metaphase.json"
    seen = {}
    real_write = gui_app.write_screenshot

    def write(window, path):
        scene = window.karyogram.scene
        seen.update(pending=scene.pending, placed=scene.counts.named,
                    named=count_cell(window.session.document).named)
        real_write(window, path)

    monkeypatch.setattr(gui_app, "write_screenshot", write)
    assert run_in_process(str(sample), "--screenshot", str(tmp_path / "shot.png")) == 0
    assert seen["named"] > 40
    assert not seen["pending"] and seen["placed"] == seen["named"]


def test_missing_file_is_a_usage_error(tmp_path: Path):
    with pytest.raises(CommandError, match="no such file"):
        run_in_process(str(tmp_path / "nope.png"), "--screenshot", str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()


def test_corrupt_file_in_screenshot_mode_is_an_error(tmp_path: Path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(CommandError, match="could not open"):
        run_in_process(str(bad), "--screenshot", str(tmp_path / "x.png"))
    assert "not valid JSON" in capsys.readouterr().err


def test_without_a_file_the_bundled_sample_opens(window):
    from karyostudio.gui.app import SAMPLE_IMAGE, open_initial

    if not SAMPLE_IMAGE.is_file():
        pytest.skip("no bundled sample in this checkout")
    assert open_initial(window, None)
    assert window.session.image_path == SAMPLE_IMAGE and window.session.image is not None


def test_a_missing_sample_leaves_an_empty_window_that_says_so(window, tmp_path, monkeypatch):
    import karyostudio.gui.app as app_module

    monkeypatch.setattr(app_module, "SAMPLE_IMAGE", tmp_path / "gone.png")
    assert not app_module.open_initial(window, None)
    assert "sample image is missing" in window.status.currentMessage()
    assert window.session.image is None and len(window.session.document) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="display detection is for X11/Wayland")
def test_without_a_display_the_window_is_refused_clearly(image_file: Path, monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CommandError, match="no display found"):
        run_in_process(str(image_file))


def test_split_clusters_flag_runs_the_model_with_the_splitter(image_file: Path, tmp_path: Path):
    """--auto --split-clusters runs default-cpu followed by the shipped ChromSeg splitter, and is remembered."""
    from karyostudio.gui.settings import app_settings

    out = tmp_path / "shot.png"
    assert run_in_process(str(image_file), "--auto", "--split-clusters", "--screenshot", str(out)) == 0
    assert out.is_file()
    assert app_settings().value("models/split_clusters", False, type=bool) is True
    assert run_in_process(str(image_file), "--no-split-clusters", "--screenshot", str(out)) == 0
    assert app_settings().value("models/split_clusters", True, type=bool) is False
