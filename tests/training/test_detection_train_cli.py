"""`karyostudio train`: presets and config files, overrides, user-facing errors, the classifier preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from karyostudio.cli import main
from karyostudio.models.classic.classifier import ChromosomeClassifier
from karyostudio.models.manifest import read_manifest
from tests.training.test_engine import given_crops, tiny_settings


def write_config(tmp_path, **changes) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_settings(tmp_path / "unused", steps=1, **changes)))
    return path


def test_unknown_preset_lists_the_presets(capsys):
    assert main(["train", "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'nope'" in err and "maskrcnn-r50-baseline" in err and "default-cpu" in err


@pytest.mark.parametrize("argv", [["train"], ["train", "x.yaml", "--preset", "default-cpu"]])
def test_config_and_preset_are_mutually_exclusive(argv, capsys):
    assert main(argv) == 2
    assert "either a CONFIG file or --preset" in capsys.readouterr().err


def test_bad_config_file_is_reported_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("regime: sideways\n")
    assert main(["train", str(bad)]) == 2
    assert "regime must be one of" in capsys.readouterr().err


def test_trains_a_config_file_into_the_out_folder_and_resumes_it(tmp_path, capsys):
    config = write_config(tmp_path)
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--device", "cpu", "--max-minutes", "5"]) == 0
    printed = capsys.readouterr().out
    assert "trained 1 steps, 1 epochs" in printed and str(out / "export" / "tiny.manifest.json") in printed
    assert json.loads((out / "config.json").read_text())["max_minutes"] == 5.0
    assert main(["train", str(config), "--out", str(out)]) == 2  # would overwrite the run
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", str(config), "--out", str(out), "--resume"]) == 0  # finished: nothing left to do
    assert "trained 1 steps" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown on machines without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    assert main(["train", str(write_config(tmp_path)), "--out", str(tmp_path / "r"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_default_cpu_preset_trains_the_classifier_with_out_and_time_budget(tmp_path, monkeypatch, capsys):
    given_crops(monkeypatch)
    argv = ["train", "--preset", "default-cpu", "--out", str(tmp_path), "--max-minutes", "2",
            "--data-root", str(tmp_path / "data")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    manifest = tmp_path / "export" / "default-cpu.manifest.json"
    assert "val.accuracy" in out and f"model: {manifest}" in out
    train_config = ChromosomeClassifier.load(read_manifest(manifest).weights_path).metrics["train_config"]
    assert train_config["max_minutes"] == 2.0 and train_config["data_root"] == str(tmp_path / "data" / "taichung")
