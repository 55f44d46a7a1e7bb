"""Classifier training (the one training loop): learns a toy task, cancels and resumes, writes
loadable checkpoints, end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from karyostudio.core.classes import CLASS_NAMES, class_index
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.models.classic.classifier import ChromosomeClassifier
from karyostudio.models.manifest import REPO_MODELS_DIR, read_manifest
from karyostudio.models.registry import load_predictor
from karyostudio.models.classic.crops import NUM_FEATURES
from karyostudio.training.classifier_data import CropDataset
from karyostudio.training.classifier_eval import evaluate, fit_temperature
from karyostudio.training.classifier_train import augment, scanner_style, train_on_crops
from karyostudio.training.config import TrainConfig
from karyostudio.training.engine import fit
from karyostudio.training.errors import TrainingError
from tests.training.test_classifier_data import toy_cells

OUT = (32, 16)


def toy_dataset(n: int, seed: int) -> CropDataset:
    """Four classes told apart by the height of a centred bar (survives flips) and a feature."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    crops = np.zeros((n, *OUT), dtype=np.uint8)
    for i, k in enumerate(labels):
        half = 3 + 4 * k
        crops[i, 16 - half:16 + half, 5:11] = 200
    feats = rng.normal(scale=0.1, size=(n, NUM_FEATURES)).astype(np.float32)
    feats[:, 0] += labels * 0.5
    return CropDataset(crops, feats, labels.astype(np.int64), (np.arange(n) // 8).astype(np.int32),
                       [str(c) for c in range(int(np.ceil(n / 8)))])


RUN_FIELDS = ("max_minutes", "num_threads", "seed", "resume")


def tiny_config(tmp_path, **changes) -> TrainConfig:
    """A family "classic" config of a tiny classifier; ``changes`` are settings or run fields."""
    settings = dict(data_root=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), epochs=3, batch_size=16, lr=1e-2, out_size=OUT,
                    widths=(4, 8), hidden=16, dropout=0.0, workers=1)
    run = dict(max_minutes=None, num_threads=1)
    for key, value in changes.items():
        (run if key in RUN_FIELDS else settings)[key] = value
    return TrainConfig(name="clf", family="classic", out_dir=str(tmp_path / "run"), settings=settings, **run)


def exported_classifier(result) -> ChromosomeClassifier:
    """The classifier of a run's exported model."""
    return ChromosomeClassifier.load(read_manifest(result.manifest).weights_path)


class Recorder:
    def __init__(self, cancel_after: int | None = None, token: CancelToken | None = None):
        self.losses: list[float] = []
        self.epochs: list[dict] = []
        self.cancel_after, self.token = cancel_after, token

    def on_step_end(self, step: int, losses: dict[str, float]) -> None:
        self.losses.append(losses["loss"])
        if self.cancel_after is not None and step >= self.cancel_after:
            self.token.cancel()

    def on_epoch_end(self, epoch: int, metrics: dict) -> None:
        self.epochs.append(metrics)


def test_loss_falls_and_best_checkpoint_loads_with_weights_only(tmp_path):
    config = tiny_config(tmp_path, epochs=6)
    rec = Recorder()
    torch.manual_seed(0)
    result = train_on_crops(config, toy_dataset(128, 0), toy_dataset(64, 1), callbacks=[rec])
    history, best_acc = result.history, result.best_metrics["val.accuracy"]
    assert len(rec.losses) == 6 * 8 and len(history) == 6 == len(rec.epochs)
    assert np.mean(rec.losses[-5:]) < 0.6 * np.mean(rec.losses[:5])
    assert best_acc > 0.9 and history[result.best_epoch]["val.accuracy"] == best_acc
    weights = read_manifest(result.manifest).weights_path
    assert weights == tmp_path / "run" / "export" / "clf-classifier.pt"
    raw = torch.load(weights, weights_only=True)
    assert raw["config"]["widths"] == [4, 8]
    clf = exported_classifier(result)
    val = toy_dataset(64, 1)
    lp = clf.log_probs(val.crops.astype(np.float32) / 255, val.features)
    assert (lp.argmax(1) == val.labels).mean() == pytest.approx(best_acc, abs=0.05)


def test_cancel_stops_between_batches_and_the_run_resumes(tmp_path):
    config = tiny_config(tmp_path)
    token = CancelToken()
    rec = Recorder(cancel_after=3, token=token)
    train, val = toy_dataset(128, 0), toy_dataset(32, 1)
    with pytest.raises(Cancelled):
        train_on_crops(config, train, val, callbacks=[rec], cancel=token)
    assert len(rec.losses) == 3 and rec.epochs == []
    assert (tmp_path / "run" / "last.pt").is_file() and not (tmp_path / "run" / "export").exists()
    resumed = Recorder()
    result = train_on_crops(dataclasses.replace(config, resume=True), train, val, callbacks=[resumed])
    assert len(resumed.losses) == 3 * 8 - 3 and result.steps == 3 * 8 and result.manifest.is_file()


def test_time_budget_ends_training_early(tmp_path):
    # 12 s in all: about 10 s are kept back for the final calibration (_final_phase_seconds)
    config = tiny_config(tmp_path, epochs=5000, max_minutes=12 / 60)
    result = train_on_crops(config, toy_dataset(64, 0), toy_dataset(16, 1))
    assert result.stopped_early and len(result.history) < 5000 and result.manifest.is_file()


def test_augment_keeps_shapes_range_and_background():
    crops = torch.zeros(8, 1, *OUT)
    crops[:, :, 8:24, 5:11] = 0.8
    gen = torch.Generator().manual_seed(0)
    out, feats = augment(crops, torch.zeros(8, NUM_FEATURES), gen, flip_prob=0.5)
    assert out.shape == crops.shape and feats.shape == (8, NUM_FEATURES)
    assert out.min() >= 0 and out.max() <= 1
    assert out[:, :, :3].abs().max() == 0  # empty slide stays empty
    assert not torch.equal(out, crops)


def test_scanner_style_changes_only_the_chosen_crops_and_only_inside_the_chromosome():
    gen = torch.Generator().manual_seed(1)
    crops = torch.zeros(6, 1, *OUT)
    crops[:, :, 8:24, 5:11] = torch.rand(6, 1, 16, 6, generator=gen) * 0.8 + 0.1  # banded chromosome
    chosen = torch.tensor([True, True, True, False, False, False])
    out = scanner_style(crops, chosen, gen)
    assert torch.equal(out[3:], crops[3:])
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out[crops == 0], torch.zeros_like(out[crops == 0]))  # background stays 0
    for k in range(3):  # blur, coarse sampling and noise change the bands of each chosen crop
        assert (out[k] - crops[k]).abs().max() > 0.01


def test_fit_temperature_softens_overconfident_predictions():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 24, 400)
    logits = rng.normal(size=(400, 24))
    right = rng.random(400) < 0.6  # 60% right, but always with a huge margin
    logits[np.arange(400), np.where(right, labels, (labels + 1) % 24)] += 12
    assert fit_temperature(logits, labels) > 2.0


def test_evaluate_counts_fixes_made_by_joint_assignment():
    names = [c for c in CLASS_NAMES[:22] for _ in range(2)] + ["X", "Y"]
    labels = np.array([class_index(n) for n in names])
    lp = np.log(np.full((46, 24), 0.01 / 23))
    lp[np.arange(46), labels] = np.log(0.99)
    lp[2, :] = np.log(0.02 / 22)  # a "2" read as "1"
    lp[2, class_index("1")], lp[2, class_index("2")] = np.log(0.5), np.log(0.48)
    data = CropDataset(np.zeros((46, 4, 2), np.uint8), np.zeros((46, NUM_FEATURES), np.float32), labels,
                       np.zeros(46, np.int32), ["cell"])
    m = evaluate(lp, data)
    assert m["top1_independent"] == pytest.approx(45 / 46)
    assert m["top1_joint"] == 1.0
    assert m["per_class_independent"]["2"] == 0.5 and m["per_class_joint"]["2"] == 1.0
    assert m["sex_hypothesis_accuracy"] == 1.0


def test_train_classifier_end_to_end(tmp_path):
    ids = [f"1000{c}" for c in range(1, 4)] + [f"1001{c}" for c in range(1, 4)]
    toy_cells(tmp_path / "data", ids)
    threads = torch.get_num_threads()
    config = tiny_config(tmp_path, epochs=2, val_fraction=0.5, num_threads=threads + 1)
    rec = type("R", (), {"data": [], "on_data_progress": lambda self, d, t, m="": self.data.append(d)})()
    result = fit(config, callbacks=[rec])
    assert torch.get_num_threads() == threads  # the run's thread count is not left behind
    assert rec.data[-1] == len(ids)
    assert result.manifest.is_file() and len(result.history) == 2
    clf = exported_classifier(result)
    data = clf.metrics["data"]
    assert data["train_images"] == 3 and data["val_images"] == 3 and data["val_crops"] == 12
    val = clf.metrics["validation"]
    assert set(val["per_class_joint"]) == set(CLASS_NAMES)
    assert 0.0 <= val["top1_joint"] <= 1.0
    assert clf.temperature == pytest.approx(clf.metrics["temperature"])
    assert clf.metrics["validation"]["crops"] == 12
    assert clf.metrics["train_config"]["epochs"] == 2 and clf.metrics["train_config"]["out_size"] == [32, 16]
    # The export is a model of its own: no detector named, so it finds chromosomes by segmentation.
    manifest = read_manifest(result.manifest)
    assert manifest.family == "classic" and "detector" not in manifest.extra and "assign" in manifest.extra
    assert manifest.extra["box_reading"] == read_manifest(REPO_MODELS_DIR / "default-cpu.manifest.json").extra["box_reading"]
    assert manifest.metrics["val_top1_joint_assignment"] == pytest.approx(val["top1_joint"], abs=1e-4)
    assert load_predictor(result.manifest).name == "clf"


def test_expected_calibration_error():
    from karyostudio.training.classifier_eval import expected_calibration_error

    conf = np.array([0.95] * 100 + [0.55] * 100)
    calibrated = np.array([True] * 95 + [False] * 5 + [True] * 55 + [False] * 45)
    assert expected_calibration_error(conf, calibrated) == pytest.approx(0.0, abs=1e-9)
    overconfident = np.array([True] * 50 + [False] * 50 + [True] * 55 + [False] * 45)
    assert expected_calibration_error(conf, overconfident) == pytest.approx(0.5 * 0.45, abs=1e-9)


def test_no_time_to_train_is_an_error_and_writes_nothing(tmp_path):
    toy_cells(tmp_path / "data", ["10001", "10011"])
    config = tiny_config(tmp_path, max_minutes=1e-9, val_fraction=0.5)
    with pytest.raises(TrainingError, match="ran out before the first training step"):
        fit(config)
    assert not (tmp_path / "run" / "export").exists()
