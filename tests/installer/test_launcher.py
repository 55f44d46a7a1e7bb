"""The bundle's launcher script and entry point (the PyInstaller build itself: installer/check_bundle.sh)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bundle_with_fake_app(tmp_path: Path) -> Path:
    """The launcher beside an app/karyostudio that prints what it was started with."""
    bundle = tmp_path / "karyostudio-0"
    (bundle / "app").mkdir(parents=True)
    shutil.copy(ROOT / "installer" / "launcher.sh", bundle / "karyostudio")
    fake = bundle / "app" / "karyostudio"
    fake.write_text('#!/bin/sh\necho "args=$*"\necho "qpa=${QT_QPA_PLATFORM:-}"\necho "home=${HOME:-}"\n')
    for path in (bundle / "karyostudio", fake):
        path.chmod(0o755)
    return bundle


@pytest.mark.skipif(os.name != "posix" or shutil.which("getent") is None, reason="POSIX launcher")
def test_screenshot_renders_the_analysed_sample_offscreen_even_in_a_bare_environment(tmp_path):
    bundle = _bundle_with_fake_app(tmp_path)
    out = subprocess.run(["env", "-i", str(bundle / "karyostudio"), "--screenshot", "shot.png"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert "args=gui --auto --screenshot shot.png" in out
    assert "qpa=offscreen" in out
    assert "home=/" in out  # found from the user database, not left empty


@pytest.mark.skipif(os.name != "posix", reason="POSIX launcher")
def test_other_arguments_pass_through_unchanged(tmp_path):
    bundle = _bundle_with_fake_app(tmp_path)
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    out = subprocess.run([str(bundle / "karyostudio"), "predict", "a b.png", "--out", "o"], env=env,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert "args=predict a b.png --out o" in out
    assert "qpa=xcb" in out


def _entry():
    spec = importlib.util.spec_from_file_location("karyostudio_bundle_entry", ROOT / "installer" / "entry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_entry_point_finds_the_default_model_and_sample_and_names_what_is_missing(tmp_path, monkeypatch, capsys):
    entry = _entry()
    assert entry.missing_parts() == []  # a checkout holds everything a bundle must
    from karyostudio.models import manifest

    monkeypatch.setattr(manifest, "REPO_MODELS_DIR", tmp_path / "models")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # no dialog in a test: stderr only
    missing = entry.missing_parts()
    assert missing == [str(tmp_path / "models" / "default-cpu.manifest.json")]
    assert entry.main() == 2
    assert "installation is incomplete" in capsys.readouterr().err
