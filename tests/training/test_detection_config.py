"""Training configs: presets follow the report, files load with extends/overrides, mistakes are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from karyostudio.training.config import (
    ConfigError,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    data_path,
    load_config,
    load_preset,
    plan_stages,
    preset_names,
    resume_mismatch,
)

MASKS = {"mask_sources": [{"kind": "synth", "count": 4}]}


def test_every_preset_loads_and_round_trips():
    names = preset_names()
    assert {"default-cpu", "maskrcnn-r18-cpu-tiny", "maskrcnn-r50-baseline", "maskrcnn-r50-twostage",
            "maskrcnn-r50-alternating"} <= set(names)
    for name in names:
        config = load_preset(name)
        assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config


def test_r50_presets_use_the_reports_settings():
    base = load_preset("maskrcnn-r50-baseline")
    assert (base.model.backbone, base.model.input_size, base.batch_size, base.epochs) == ("resnet50", 640, 4, 40)
    assert (base.optim.lr, base.optim.momentum, base.optim.weight_decay) == (0.005, 0.9, 1e-4)
    two = load_preset("maskrcnn-r50-twostage")
    assert [(s.name, s.epochs, s.lr, s.streams) for s in plan_stages(two)] == [
        ("stage1", 20, 0.005, ("coarse",)), ("stage2", 40, 0.0004, ("masks",))]
    assert two.data.box_sources[0].kind == "voc" and two.data.coarse_mask_shape == "box"
    alt = load_preset("maskrcnn-r50-alternating")
    assert alt.model.attention and alt.regime == "alternating" and 0 < alt.box_ratio < 1
    assert [s.streams for s in plan_stages(alt)] == [("boxes", "masks")]


def test_yaml_and_json_files_extend_presets_and_override_key_by_key(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({"extends": "maskrcnn-r50-baseline", "epochs": 3,
                                                     "model": {"backbone": "resnet18"}, "optim": {"lr": 0.01}}))
    config = load_config(tmp_path / "a.yaml")
    assert (config.epochs, config.model.backbone, config.optim.lr) == (3, "resnet18", 0.01)
    assert config.optim.momentum == 0.9 and config.model.input_size == 640  # kept from the preset
    (tmp_path / "b.json").write_text(json.dumps({"name": "b", "data": MASKS, "model": {"aspect_ratios": [0.5, 2]}}))
    assert load_config(tmp_path / "b.json").model.aspect_ratios == (0.5, 2.0)


@pytest.mark.parametrize("data, message", [
    ({"epocs": 3, "data": MASKS}, "unknown setting.*epocs.*known:.*epochs"),
    ({"epochs": "many", "data": MASKS}, "epochs must be an integer"),
    ({"model": {"backbone": "vgg"}, "data": MASKS}, "backbone"),
    ({"regime": "twostage", "data": MASKS}, "regime must be one of"),
    ({"regime": "alternating", "data": MASKS}, "needs data.box_sources"),
    ({"data": {"mask_sources": []}}, "needs data.mask_sources"),
    ({"data": {"mask_sources": [{"kind": "labelme"}]}}, "needs a path"),
    ({"data": {"mask_sources": [{"kind": "coco", "path": "x"}]}}, "kind must be one of"),
    ({"extends": "nope"}, "unknown preset 'nope'; presets: .*default-cpu.*maskrcnn-r50-baseline"),
    ({"data": MASKS, "amp": "yes"}, "amp must be true or false"),
])
def test_mistakes_are_reported_by_name(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_unreadable_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("epochs: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_relative_data_paths_resolve_under_the_data_root(monkeypatch, tmp_path):
    config = config_from_dict({"data": MASKS})
    monkeypatch.delenv("KARYOSTUDIO_DATA", raising=False)
    assert data_path(config, "taichung") == Path("taichung")
    monkeypatch.setenv("KARYOSTUDIO_DATA", str(tmp_path))
    assert data_path(config, "taichung") == tmp_path / "taichung"
    rooted = config_from_dict({"data": {**MASKS, "root": "/data"}})
    assert data_path(rooted, "taichung") == Path("/data/taichung")
    assert data_path(rooted, "/abs/x") == Path("/abs/x")


def test_resume_may_change_where_a_run_runs_but_not_what_it_learns():
    a = config_to_dict(config_from_dict({"data": MASKS}))
    b = config_to_dict(config_from_dict({"data": {**MASKS, "num_workers": 4}, "device": "cuda", "max_minutes": 5.0}))
    assert resume_mismatch(a, b) == []
    c = config_to_dict(config_from_dict({"data": MASKS, "optim": {"lr": 0.1}, "model": {"attention": True}}))
    assert resume_mismatch(a, c) == ["model.attention", "optim.lr"]


def test_default_cpu_preset_maps_onto_the_classifier_settings(tmp_path):
    from karyostudio.training.classifier_train import ClassifierTask

    preset = load_preset("default-cpu")
    assert preset.family == "classic"
    config = TrainConfig(**{**preset.__dict__, "out_dir": str(tmp_path), "max_minutes": 7.0,
                            "data": preset.data.__class__(root="/data")})
    settings = ClassifierTask(config).s
    assert settings.data_root == "/data/taichung" and settings.epochs == 3 and settings.capture_styles == 1
    # The shipped detector and classifier are found in the model folders, wherever the run starts.
    assert settings.detector.endswith("models/default-cpu-detector.pt")
    assert settings.init_from.endswith("models/default-cpu-classifier.pt")
    with pytest.raises(ConfigError, match="no weights file"):
        ClassifierTask(TrainConfig(**{**config.__dict__, "settings": {"data_root": "x", "detector": "missing.pt"}}))
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) in settings: epoch; known: data_root"):
        ClassifierTask(TrainConfig(**{**config.__dict__, "settings": {"data_root": "x", "epoch": 2}}))
    with pytest.raises(ConfigError, match="pipeline_from: no installed model 'nope'"):
        ClassifierTask(TrainConfig(**{**config.__dict__, "settings": {"data_root": "x", "pipeline_from": "nope"}}))
    with pytest.raises(ConfigError, match="settings.data_root is required"):
        ClassifierTask(TrainConfig(**{**config.__dict__, "settings": {}}))
