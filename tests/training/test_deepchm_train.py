"""DeepCHM training through engine.fit: settings checks, losses going down, checkpoints, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.models.manifest import read_manifest
from karyostudio.models.registry import load_predictor
from karyostudio.synth import SynthConfig
from karyostudio.synth.dataset import generate_dataset
from karyostudio.training import checkpoint as ckpt
from karyostudio.training.config import ConfigError, TrainConfig, load_preset
from karyostudio.training.deepchm_settings import DeepCHMSettings
from karyostudio.training.family_settings import read_settings
from karyostudio.training.engine import fit

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory):
    """Two small synthetic metaphases written once as labelme files (generating them costs more
    than a training step)."""
    folder = tmp_path_factory.mktemp("deepchm-synth")
    generate_dataset(folder, 2, seed=3, config=SynthConfig(size=128))
    return folder


NO_AUGMENT = {"flip": False, "rot90": False, "max_rotation_deg": 0.0, "brightness": 0.0, "contrast": 0.0}


def _settings(folder="unused", **overrides):
    settings = {"model": {"backbone": "resnet18", "fpn_channels": 16, "head_channels": 16, "aspp_rates": [1, 2],
                          "input_size": 128, "base_size": 2.0, "angle_step": 30.0, "pre_nms_top_n": 200},
                "sources": [{"kind": "labelme", "path": str(folder), "val_fraction": 0.5, "seed": 0}],
                "augment": NO_AUGMENT, "epochs": 1, "steps_per_epoch": 10, "lr": 0.002, "max_val_images": 1,
                "log_every": 1}
    settings.update(overrides)
    return settings


def _config(tmp_path, folder, **overrides) -> TrainConfig:
    return TrainConfig(name="deepchm-test", family="deepchm", settings=_settings(folder, **overrides),
                       out_dir=str(tmp_path / "run"), num_threads=1, seed=0)


class _Recorder:
    def __init__(self):
        self.steps, self.epochs, self.started = [], [], None

    def on_fit_start(self, info):
        self.started = info

    def on_step_end(self, step, losses):
        self.steps.append(losses)

    def on_epoch_end(self, epoch, record):
        self.epochs.append(record)


def test_unknown_and_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) in settings: learning_rate"):
        read_settings(DeepCHMSettings, {**_settings(), "learning_rate": 0.1})
    with pytest.raises(ConfigError, match="settings.model"):
        read_settings(DeepCHMSettings, _settings(model={"use_sgachh": True}))
    with pytest.raises(ConfigError, match="sources"):
        read_settings(DeepCHMSettings, _settings(sources=[]))
    with pytest.raises(ConfigError, match="unknown setting"):
        read_settings(DeepCHMSettings, _settings(augment={"flips": True}))
    with pytest.raises(ConfigError, match=r"settings.sources\[0\].split must be one of"):
        read_settings(DeepCHMSettings, _settings(sources=[{"kind": "voc", "path": "taichung", "split": "by-patient"}]))


def test_presets_load_and_parse():
    tiny = read_settings(DeepCHMSettings, load_preset("deepchm-cpu-tiny").settings)
    assert tiny.model.backbone == "resnet18" and tiny.sources[0].kind == "synth"
    paper = load_preset("deepchm-r50")
    settings = read_settings(DeepCHMSettings, paper.settings)
    assert paper.device == "cuda"
    assert settings.model.backbone == "resnet50" and settings.model.anchors_per_location == 48
    assert settings.lr == pytest.approx(1e-4) and settings.lr_decay == pytest.approx(0.96) and settings.epochs == 120
    assert {s.kind for s in settings.sources} == {"voc", "synth"}
    assert all((settings.model.use_pminf, settings.model.use_sgach, settings.model.use_hdlos, settings.model.use_dasmp))


def test_tiny_training_lowers_every_loss_and_exports_a_loadable_model(tmp_path, synth_folder):
    torch.manual_seed(0)
    recorder = _Recorder()
    result = fit(_config(tmp_path, synth_folder), [recorder])
    assert recorder.started["family"] == "deepchm"
    assert len(recorder.steps) == 10 and result.steps == 10 and result.epochs == 1
    for name in ("loss_saliency", "loss_cls", "loss_reg"):
        first = np.mean([s[name] for s in recorder.steps[:3]])
        last = np.mean([s[name] for s in recorder.steps[-3:]])
        assert last < first, (name, first, last)
    record = recorder.epochs[0]
    for key in ("val.ap", "val.f1", "val.mfps"):
        assert key in record
    assert (tmp_path / "run" / ckpt.LAST_NAME).is_file() and result.best_checkpoint is not None
    manifest = read_manifest(result.manifest)
    assert manifest.family == "deepchm" and manifest.extra["spec"]["input_size"] == 128
    predictor = load_predictor(result.manifest)
    image = np.full((100, 140), 200, dtype=np.uint8)
    instances = predictor.predict(image)
    assert isinstance(instances, list)
    for inst in instances:
        assert len(inst.attributes["rotated_box"]) == 5 and inst.label is None


def test_cancelling_saves_the_run_and_raises(tmp_path, synth_folder):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        fit(_config(tmp_path, synth_folder), [], token)
    saved = ckpt.load_train_state(tmp_path / "run" / ckpt.LAST_NAME)
    assert saved["progress"]["step"] == 0


def test_a_finished_run_is_not_overwritten(tmp_path, synth_folder):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ckpt.LAST_NAME).write_bytes(b"x")
    with pytest.raises(ConfigError, match="already holds"):
        fit(_config(tmp_path, synth_folder), [])
