"""Enhanced Rotated Mask R-CNN training through engine.fit: losses fall, cancel saves, export loads as a predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.metrics.detection import ROTATED_BOX
from karyostudio.models.registry import load_predictor
from karyostudio.training import checkpoint as ckpt
from karyostudio.training.config import ConfigError, config_from_dict, load_preset
from karyostudio.training.engine import fit

MODEL = dict(backbone="resnet18", input_size=128, fpn_channels=16, box_representation=32, mask_head_channels=16,
             endpoint_channels=8, rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=60,
             rpn_pre_nms_top_n_test=60, rpn_post_nms_top_n_test=40, box_batch_size_per_image=32,
             mask_batch_size_per_image=8, detections_per_img=20, box_score_thresh=0.0)
NO_AUGMENT = dict(flip=False, rot90=False, max_rotation_deg=0.0, brightness=0.0, contrast=0.0)


def _config(tmp_path, **settings):
    base = dict(model=MODEL, sources=[dict(kind="synth", count=1, val_count=1, size=128, seed=4)],
                augment=NO_AUGMENT, epochs=1, steps_per_epoch=20, batch_size=1, lr=0.02, warmup_steps=0,
                max_val_images=1, log_every=1)
    base.update(settings)
    return config_from_dict({"name": "ermrcnn-tiny-test", "family": "rotated-maskrcnn", "device": "cpu",
                             "num_threads": 1, "seed": 0, "out_dir": str(tmp_path / "run"), "settings": base})


class Recorder:
    def __init__(self, cancel_after: int | None = None, token: CancelToken | None = None):
        self.steps: list[dict[str, float]] = []
        self.epochs: list[dict] = []
        self.cancel_after, self.token = cancel_after, token

    def on_step_end(self, step, losses):
        self.steps.append(losses)
        if self.cancel_after is not None and step >= self.cancel_after:
            self.token.cancel()

    def on_epoch_end(self, epoch, record):
        self.epochs.append(record)


def test_tiny_training_lowers_every_loss_and_exports_a_loadable_model(tmp_path):
    recorder = Recorder()
    result = fit(_config(tmp_path), [recorder])
    assert result.steps == 20 and result.epochs == 1 and not result.stopped_early
    names = set(recorder.steps[0]) - {"loss"}
    assert names == {"loss_endpoint", "loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_rbox_reg",
                     "loss_hbox_reg", "loss_mask"}
    for name in names | {"loss"}:
        first = np.mean([s[name] for s in recorder.steps[:3]])
        last = np.mean([s[name] for s in recorder.steps[-3:]])
        assert last < first, f"{name}: {first:.4f} -> {last:.4f}"
    record = recorder.epochs[-1]
    assert "val.mask_map50" in record and "val.box_map50" in record
    assert result.manifest is not None and (tmp_path / "run" / ckpt.BEST_NAME).exists()

    predictor = load_predictor(result.manifest)
    predictor.score_threshold = 0.0  # a 20-step model is not confident; the output format is what counts here
    from karyostudio.synth import SynthConfig, generate_metaphase, rng_for

    image = generate_metaphase(rng_for(4, 0), SynthConfig(size=128)).image
    instances = predictor.predict(image)
    assert instances
    assert all(len(i.polygon) >= 3 and len(i.attributes[ROTATED_BOX]) == 5 for i in instances)


def test_cancel_saves_the_run_and_raises(tmp_path):
    token = CancelToken()
    with pytest.raises(Cancelled):
        fit(_config(tmp_path, steps_per_epoch=5), [Recorder(cancel_after=2, token=token)], token)
    saved = ckpt.load_train_state(tmp_path / "run" / ckpt.LAST_NAME)
    assert saved["progress"]["step"] == 2
    with pytest.raises(ConfigError, match="already holds a training run"):
        fit(_config(tmp_path, steps_per_epoch=5))
    config = _config(tmp_path, steps_per_epoch=5)
    config.resume = True
    config.export = False
    result = fit(config)
    assert result.steps == 5 and result.epochs == 1 and result.manifest is None


def test_time_budget_stops_early_and_still_exports(tmp_path):
    config = _config(tmp_path)
    config.max_minutes = 0.0
    result = fit(config)
    assert result.stopped_early and result.steps == 0 and result.manifest is not None


def test_unknown_and_bad_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) in settings: learning_rate"):
        fit(_config(tmp_path, learning_rate=0.1))
    with pytest.raises(ConfigError, match="settings.model"):
        fit(_config(tmp_path, model={"backbone": "vgg"}))
    with pytest.raises(ConfigError, match="needs at least one image source"):
        fit(_config(tmp_path, sources=[]))


def test_presets_load():
    tiny, paper = load_preset("ermrcnn-cpu-tiny"), load_preset("ermrcnn-r50")
    assert tiny.family == paper.family == "rotated-maskrcnn"
    from karyostudio.training.ermrcnn_settings import ERMRCNNSettings
    from karyostudio.training.family_settings import read_settings

    settings = read_settings(ERMRCNNSettings, paper.settings)
    assert settings.model.backbone == "resnet50" and settings.model.input_size == 640
    assert settings.lr == 0.005 and settings.momentum == 0.9 and settings.epochs == 100
    assert settings.model.horizontal_branch and settings.model.endpoint_branch
    assert read_settings(ERMRCNNSettings, tiny.settings).model.backbone == "resnet18"
    torch.manual_seed(0)  # the paper preset's model builds (no training: that needs a GPU)
    from karyostudio.models.ermrcnn.model import build_ermrcnn

    assert sum(p.numel() for p in build_ermrcnn(settings.model).parameters()) > 1e7
