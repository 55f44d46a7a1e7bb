"""Centre-detector training through engine.fit: settings checks, losses, resume, export, loading."""

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
from karyostudio.training.centernet_settings import CenterNetSettings
from karyostudio.training.family_settings import read_settings
from karyostudio.training.config import (ConfigError, TrainConfig, add_labelme_source, load_preset, model_file,
                                        preset_names)
from karyostudio.training.engine import fit

TINY_MODEL = {"widths": [8, 8, 16, 16], "blocks": [1, 1, 1, 1], "stem_channels": 8, "fpn_channels": 8,
              "head_channels": 8}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("centernet-synth")
    generate_dataset(folder, 3, seed=5, config=SynthConfig(size=256))
    return folder


def _config(tmp_path, folder, **overrides) -> TrainConfig:
    settings = {"model": TINY_MODEL, "sources": [{"kind": "labelme", "path": str(folder), "val_fraction": 0.34}],
                "crop": 128, "epochs": 2, "steps_per_epoch": 4, "batch_size": 2, "warmup_steps": 1,
                "max_val_images": 1, "num_workers": 0, "log_every": 1}
    settings.update(overrides)
    return TrainConfig(name="centernet-test", family="centernet", settings=settings, out_dir=str(tmp_path / "run"),
                       num_threads=1, seed=0)


class _Steps:
    def __init__(self, cancel_at=None, token=None):
        self.losses, self.epochs, self.cancel_at, self.token = [], [], cancel_at, token

    def on_step_end(self, step, values):
        self.losses.append(values["loss"])
        if self.cancel_at is not None and step >= self.cancel_at:
            self.token.cancel()

    def on_epoch_end(self, epoch, record):
        self.epochs.append(record)


def test_settings_are_checked():
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) in settings: epoch; known: model"):
        read_settings(CenterNetSettings, {"sources": [{"kind": "synth"}], "epoch": 3})
    with pytest.raises(ConfigError, match="crop must be a multiple of 32"):
        read_settings(CenterNetSettings, {"sources": [{"kind": "synth"}], "crop": 100})
    with pytest.raises(ConfigError, match="at least one image source"):
        read_settings(CenterNetSettings, {})
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) in settings.model: width"):
        read_settings(CenterNetSettings, {"sources": [{"kind": "synth"}], "model": {"width": 3}})
    with pytest.raises(ConfigError, match="scale_range"):
        read_settings(CenterNetSettings, {"sources": [{"kind": "synth"}], "augment": {"scale_range": [2.0, 1.0]}})
    assert read_settings(CenterNetSettings, load_preset("centernet-cpu").settings).crop == 352
    finetune = read_settings(CenterNetSettings, load_preset("centernet-cpu-finetune").settings)
    assert finetune.init_from == "default-cpu-detector.pt"
    assert model_file(finetune.init_from, "settings.init_from").name == "default-cpu-detector.pt"


def test_fit_exports_a_loadable_detector_and_resumes(tmp_path, synth_folder, isolated_models):
    rec = _Steps()
    result = fit(_config(tmp_path, synth_folder), callbacks=[rec])
    assert result.steps == 8 and result.epochs == 2 and len(rec.epochs) == 2
    assert all(np.isfinite(rec.losses)) and np.mean(rec.losses[-3:]) < np.mean(rec.losses[:3])
    assert {"val.ap50", "val.recall", "val.exact_count"} <= set(result.history[-1])
    manifest = read_manifest(result.manifest)
    assert manifest.family == "centernet" and manifest.extra["class_agnostic"] is True
    predictor = load_predictor(result.manifest)
    image = np.full((200, 240), 220, np.uint8)
    instances = predictor.predict(image)
    assert all(i.label is None and 0 <= i.score <= 1 for i in instances)
    # Resuming a finished run with more epochs is refused (its schedule is fixed by the epochs) ...
    with pytest.raises(ConfigError, match="settings differ"):
        fit(TrainConfig(**{**_config(tmp_path, synth_folder, epochs=3).__dict__, "resume": True}))
    # ... while a cancelled run resumes where it stopped and ends as an uninterrupted one.
    token = CancelToken()
    config = _config(tmp_path / "b", synth_folder)
    with pytest.raises(Cancelled):
        fit(config, callbacks=[_Steps(cancel_at=3, token=token)], cancel=token)
    assert ckpt.load_train_state(tmp_path / "b" / "run" / ckpt.LAST_NAME)["progress"]["step"] == 3
    resumed = fit(TrainConfig(**{**config.__dict__, "resume": True}))
    assert resumed.steps == 8 and resumed.epochs == 2


def test_corrections_folder_is_accepted_by_every_preset(tmp_path, synth_folder):
    """`train --corrections FOLDER` works for every preset: its trainer's settings take the folder."""
    from karyostudio.training.config import check_config
    from karyostudio.training.family_settings import settings_for

    families = set()
    for name in preset_names():
        config = add_labelme_source(load_preset(name), synth_folder)
        check_config(config)
        families.add(config.family)
        folders = ([s.path for s in config.data.mask_sources if s.kind == "labelme"] if config.family == "maskrcnn"
                   else settings_for(config).labelme_dirs)
        assert str(synth_folder.resolve()) in folders, name
    assert families == {"maskrcnn", "classic", "chromseg", "deepchm", "rotated-maskrcnn", "centernet"}


def test_fit_learns_from_a_corrections_folder(tmp_path, synth_folder):
    config = add_labelme_source(_config(tmp_path, synth_folder, sources=[], epochs=1), synth_folder)
    result = fit(config)
    assert result.steps == 4 and result.manifest is not None


def test_init_from_starts_at_the_given_weights_and_refuses_another_spec(tmp_path, synth_folder):
    from karyostudio.models.centernet.net import CenterNet
    from karyostudio.models.centernet.spec import CenterNetSpec
    from karyostudio.models.centernet.weights import read_weights, save_weights
    from karyostudio.training.centernet_train import start_weights

    spec = CenterNetSpec.from_dict(TINY_MODEL)
    torch.manual_seed(123)
    weights = save_weights(tmp_path / "start.pt", CenterNet(spec).state_dict(), spec)
    _, stored = read_weights(weights)
    torch.manual_seed(0)
    model = CenterNet(spec)
    assert not all(torch.equal(model.state_dict()[k], v) for k, v in stored.items())
    model.load_state_dict(start_weights(weights, spec))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in stored.items())
    wider = CenterNetSpec.from_dict({**TINY_MODEL, "fpn_channels": 16})
    other = save_weights(tmp_path / "other.pt", CenterNet(wider).state_dict(), wider)
    with pytest.raises(ConfigError, match="another spec"):
        start_weights(other, spec)
    # Through the training loop: a run starts from the file, a missing file is a config error.
    assert fit(_config(tmp_path / "a", synth_folder, epochs=1, init_from=str(weights))).steps == 4
    with pytest.raises(ConfigError, match="settings.init_from"):
        fit(_config(tmp_path / "b", synth_folder, epochs=1, init_from=str(tmp_path / "missing.pt")))
