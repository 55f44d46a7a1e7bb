"""ChromSeg trainer: learning, export and reload as the splitter's segmenter, cancel/resume, settings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from karyostudio.core.progress import Cancelled, CancelToken
from karyostudio.models.manifest import ManifestError, read_manifest
from karyostudio.models.overlap.loss import MixedWeightFocalLoss
from karyostudio.models.overlap.segmenter import OverlapSegmenter, load_splitter_model
from karyostudio.models.overlap.unetpp import UNetPPSpec, build_unetpp
from karyostudio.models.registry import UnknownModelError
from karyostudio.synth import SynthConfig
from karyostudio.training.chromseg_data import synth_crops
from karyostudio.training.chromseg_train import _to_tensors
from karyostudio.training.config import ConfigError, TrainConfig, load_preset
from karyostudio.training.engine import fit

TINY = {"size": 64, "base_channels": 4, "depth": 4, "train_count": 8, "val_count": 4, "synth_size": 256,
        "max_per_image": 2, "batch_size": 4, "lr": 0.01, "epochs": 2}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("chromseg-cache"))


def tiny_config(out, cache, **settings) -> TrainConfig:
    return TrainConfig(name="chromseg-test", family="chromseg", out_dir=str(out), num_threads=1,
                       settings={**TINY, "cache_dir": cache, **settings})


def test_a_few_steps_lower_the_loss(cache):
    torch.manual_seed(0)
    crops = synth_crops(0, 4, size=64, synth=SynthConfig(size=256), max_per_image=2, cache_dir=cache)
    x, fg, cross = _to_tensors(crops, torch.device("cpu"))
    net = build_unetpp(UNetPPSpec(base_channels=4, depth=4))
    loss_fn = MixedWeightFocalLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(12):
        foreground, crossing = net(x)
        loss = loss_fn.deep_supervised(foreground, crossing, fg, cross)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_fit_exports_a_segmenter_that_load_splitter_model_reads(tmp_path, cache, monkeypatch):
    epochs = []

    class Record:
        def on_epoch_end(self, epoch, metrics):
            epochs.append(metrics)

    result = fit(tiny_config(tmp_path / "run", cache), callbacks=[Record()])
    assert result.epochs == 2 and result.steps == 4 and len(epochs) == 2
    assert all(0.0 <= m["val.iou_foreground"] <= 1.0 for m in epochs)
    manifest = read_manifest(result.manifest)
    assert manifest.family == "chromseg" and manifest.input["input_size"] == 64
    assert manifest.weights_path.stat().st_size < 500_000
    assert set(manifest.metrics) == {"val.iou_foreground", "val.iou_crossing", "val.overlap_acc"}

    monkeypatch.setenv("KARYOSTUDIO_MODELS", str(result.manifest.parent))
    for how in ("chromseg-test", result.manifest, manifest.weights_path):
        segmenter = load_splitter_model(how if isinstance(how, str) else str(how))
        assert isinstance(segmenter, OverlapSegmenter)
    rng = np.random.default_rng(0)
    for crop in (rng.integers(0, 256, (37, 90), dtype=np.uint8), rng.integers(0, 4096, (300, 45), dtype=np.uint16)):
        foreground, crossing = segmenter.predict_maps(crop)
        assert foreground.shape == crossing.shape == crop.shape
        assert foreground.dtype == crossing.dtype == np.float32
        assert 0.0 <= foreground.min() and foreground.max() <= 1.0
        assert (crossing <= foreground).all()

    # An unpadded crop of the network's size gives what the network itself gives.
    crop = synth_crops(0, 1, first_index=1_000_000, size=64, synth=SynthConfig(size=256), max_per_image=2,
                       cache_dir=cache)[0]
    x, _, _ = _to_tensors([crop], torch.device("cpu"))
    fg_net, _ = segmenter.model.probabilities(x)
    foreground, _ = segmenter.predict_maps(crop.image)
    np.testing.assert_allclose(foreground, fg_net[0].numpy(), atol=1e-5)


def test_load_splitter_model_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("KARYOSTUDIO_MODELS", str(tmp_path))
    with pytest.raises(UnknownModelError):
        load_splitter_model("no-such-model")
    with pytest.raises(ManifestError):
        load_splitter_model(str(tmp_path / "missing.manifest.json"))
    with pytest.raises(ValueError, match="2-D"):
        OverlapSegmenter(build_unetpp(UNetPPSpec(base_channels=2, depth=2)), input_size=8).predict_maps(
            np.zeros((4, 4, 3), np.uint8))


def test_cancel_saves_and_resume_finishes(tmp_path, cache):
    token = CancelToken()

    class CancelAfterFirstStep:
        def on_step_end(self, step, losses):
            token.cancel()

    config = tiny_config(tmp_path / "run", cache)
    with pytest.raises(Cancelled):
        fit(config, [CancelAfterFirstStep()], token)
    assert (tmp_path / "run" / "last.pt").is_file()
    assert not (tmp_path / "run" / "export").exists()
    with pytest.raises(ConfigError, match="already holds"):
        fit(config)
    result = fit(dataclasses.replace(config, resume=True))
    assert result.steps == 4 and result.epochs == 2 and result.manifest.is_file()


@pytest.mark.parametrize("settings, message", [
    ({"learning_rate": 0.1}, "known: "),
    ({"batch_size": 0}, "batch_size"),
    ({"size": 60}, "multiple of 8"),
    ({"loss_alpha": 1.5}, "loss_alpha"),
    ({"labelme_dirs": "data"}, "labelme_dirs"),
    ({"select_metric": "val.loss"}, "select_metric"),
])
def test_bad_settings_are_config_errors(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        fit(tiny_config(tmp_path, None, **settings))


def test_presets_load():
    config = load_preset("chromseg-cpu")
    assert config.family == "chromseg" and config.num_threads == 2 and config.settings["size"] == 256
    assert load_preset("chromseg-cpu-tiny").settings["size"] == 64
