"""The training and evaluation panels run the real engine and metrics on worker threads."""

from __future__ import annotations

import pytest
import yaml

from karyostudio.core.instance import Instance
from karyostudio.gui.compute import ComputeService
from karyostudio.gui.panels.evaluation import EvaluationPanel, headline
from karyostudio.gui.panels.training import TrainingPanel, build_config
from karyostudio.io.images import write_image
from karyostudio.io.labelme import write_labelme
from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.training.config import ConfigError

from tests.gui.helpers import FakePredictor, square
from tests.training.test_engine import tiny_settings


@pytest.fixture
def tiny_config_file(tmp_path):
    settings = tiny_settings(tmp_path / "run", steps=2)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def test_build_config_adds_the_corrections_folder(tmp_path):
    config = build_config("maskrcnn-r18-cpu-tiny", out_dir=str(tmp_path / "o"), max_minutes=3.0, device="cpu",
                          corrections=str(tmp_path))
    assert config.out_dir == str(tmp_path / "o") and config.max_minutes == 3.0
    added = config.data.mask_sources[-1]
    assert added.kind == "labelme" and added.path == str(tmp_path.resolve())
    with pytest.raises(ConfigError):
        build_config("no-such-preset", out_dir="", max_minutes=None, device="cpu")


def test_bad_preset_is_reported_not_started(qtbot):
    panel = TrainingPanel(ComputeService())
    qtbot.addWidget(panel)
    panel.preset.setCurrentText("no-such-preset")
    assert not panel.start()
    assert "cannot start" in panel.status.text() and "no-such-preset" in panel.status.text()
    assert not panel.runner.running


def test_training_runs_plots_and_installs(qtbot, tiny_config_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    panel = TrainingPanel(ComputeService())
    qtbot.addWidget(panel)
    panel.preset.setCurrentText(str(tiny_config_file))
    panel.out_dir.setText(str(tmp_path / "run"))
    with qtbot.waitSignal(panel.runner.succeeded, timeout=120_000):
        assert panel.start()
        assert not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    assert panel.start_button.isEnabled()
    x, y = panel.curve.getData()
    assert len(x) >= 1 and all(v == v for v in y)  # losses plotted, no NaN
    assert panel.epochs.rowCount() == 1
    assert panel.manifest is not None and panel.manifest.is_file()
    with qtbot.waitSignal(panel.model_installed):
        installed = panel.install()
    assert installed.parent == tmp_path / "data-home" / "karyostudio" / "models"
    from karyostudio.models.registry import available_models
    assert installed.name.removesuffix(".manifest.json") in [m.name for m in available_models()]


def test_training_can_be_cancelled(qtbot, tiny_config_file, tmp_path):
    config = yaml.safe_load(tiny_config_file.read_text())
    config["steps_per_epoch"], config["epochs"] = 50, 4
    tiny_config_file.write_text(yaml.safe_dump(config))
    panel = TrainingPanel(ComputeService())
    qtbot.addWidget(panel)
    panel.preset.setCurrentText(str(tiny_config_file))
    panel.out_dir.setText(str(tmp_path / "run"))
    assert panel.start()
    qtbot.waitUntil(lambda: len(panel._steps) >= 1, timeout=60_000)
    with qtbot.waitSignal(panel.runner.cancelled, timeout=60_000):
        panel.cancel_button.click()
    assert "cancelled" in panel.status.text()
    assert (tmp_path / "run" / "last.pt").is_file()


def _ground_truth(tmp_path):
    import numpy as np

    image = np.full((120, 120), 230, np.uint8)
    image[10:30, 10:30] = 40
    image[40:65, 50:75] = 40
    folder = tmp_path / "gt"
    folder.mkdir()
    write_image(folder / "cell.png", image)
    write_labelme(folder / "cell.json", ImageAnnotations(
        key="cell", image_path=folder / "cell.png", image_size=(120, 120),
        instances=[Instance(id=1, polygon=square(10, 10, 20), label="1"),
                   Instance(id=2, polygon=square(50, 40, 25), label="X")]))
    return folder


def test_evaluation_panel_scores_a_model(qtbot, tmp_path):
    folder = _ground_truth(tmp_path)
    predictor = FakePredictor()  # predicts exactly the two GT outlines
    panel = EvaluationPanel(lambda: ["fake-slow"], ComputeService(lambda request: predictor))
    qtbot.addWidget(panel)
    panel.gt.setText(str(folder))
    with qtbot.waitSignal(panel.runner.succeeded, timeout=30_000):
        assert panel.start()
    rows = dict(headline(panel.result))
    assert rows["images evaluated"] == "1"
    assert rows["box mAP@50"] == "100.0%"
    assert panel.table.item(1, 1).text() == "100.0%"
    assert "mAP" in panel.report.toPlainText()
    assert predictor.calls == 1


def test_evaluation_panel_reports_unreadable_ground_truth(qtbot, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    panel = EvaluationPanel(lambda: ["fake-slow"], ComputeService(lambda request: FakePredictor()))
    qtbot.addWidget(panel)
    panel.gt.setText(str(bad))
    assert not panel.start()
    assert "cannot read the ground truth" in panel.status.text()


def test_evaluation_cancel(qtbot, tmp_path):
    folder = _ground_truth(tmp_path)
    panel = EvaluationPanel(lambda: ["slow"], ComputeService(lambda request: FakePredictor(steps=200, delay=0.02)))
    qtbot.addWidget(panel)
    panel.gt.setText(str(folder))
    assert panel.start()
    with qtbot.waitSignal(panel.runner.cancelled, timeout=30_000):
        panel.cancel_button.click()
    assert panel.result is None and panel.status.text() == "evaluation cancelled"


def test_window_has_training_and_evaluation_docks(window, qtbot):
    docks = {d.objectName(): d for d in window.lab.docks}
    assert set(docks) == {"dock_training", "dock_evaluation"}
    assert all(not d.isVisible() for d in docks.values())
    docks["dock_evaluation"].toggleViewAction().trigger()
    qtbot.waitUntil(lambda: docks["dock_evaluation"].isVisible())
    listed = [window.lab.evaluation.model.itemText(i) for i in range(window.lab.evaluation.model.count())]
    assert listed == [info.name for info in window.models.infos if info.weights_present]


def test_the_training_panel_starts_on_a_short_preset_and_describes_each(qtbot, tmp_path, monkeypatch):
    from karyostudio.gui.panels.preset_info import preset_info

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    panel = TrainingPanel(ComputeService())
    qtbot.addWidget(panel)
    chosen = panel.preset.currentText()
    info = preset_info(chosen)
    assert not info.needs_gpu and info.budget_minutes is not None and info.budget_minutes <= 15
    assert info.description and info.description[:30] in panel.about.text() and "Time: up to" in panel.about.text()
    panel.preset.setCurrentText("deepchm-r50")
    assert "needs a GPU" in panel.about.text() or "on this machine" in panel.about.text()
    panel.preset.setCurrentText("deepchm-cpu")
    assert "75 min" in panel.about.text()
    training = tmp_path / "data-home" / "karyostudio" / "training"
    assert panel.out_dir.text() == str(training / "deepchm-cpu")


def test_training_output_goes_to_the_users_data_folder_never_the_programs(tmp_path, monkeypatch):
    from karyostudio.gui.panels.training import OutputFolderError, resolve_out_dir
    from karyostudio.gui.program_files import PROGRAM_ROOT

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.chdir(PROGRAM_ROOT)  # as if started from the installed program's folder
    training = tmp_path / "data-home" / "karyostudio" / "training"
    config = build_config("default-cpu", out_dir="", max_minutes=None, device="cpu")
    assert config.out_dir == str(training / "default-cpu")  # not the preset's own "models"
    assert resolve_out_dir("runs/mine", "x") == training / "runs" / "mine"
    with pytest.raises(OutputFolderError):
        resolve_out_dir(str(PROGRAM_ROOT / "models"), "x")
    panel_status = []
    panel = TrainingPanel(ComputeService())
    panel.out_dir.setText(str(PROGRAM_ROOT / "resources" / "run"))
    assert not panel.start()
    panel_status.append(panel.status.text())
    assert "program's own folder" in panel_status[0]
    panel.deleteLater()


def test_installing_a_retrained_default_model_copies_its_detector_too(tmp_path):
    from pathlib import Path

    from karyostudio.gui.panels.training import install_model
    from karyostudio.models.classic.classifier import CropNet, NetConfig
    from karyostudio.models.classic.export import export_classic_model
    from karyostudio.models.manifest import read_manifest
    from karyostudio.models.registry import load_predictor

    shipped = read_manifest(Path(__file__).resolve().parents[2] / "models" / "default-cpu.manifest.json")
    detector = shipped.weights_path.parent / shipped.extra["detector"]["weights"]
    exported = export_classic_model(
        tmp_path / "export", "retrained", CropNet(NetConfig(out_size=(64, 32), widths=(4, 8), hidden=8, reject=True)),
        temperature=1.0, checkpoint_metrics={}, detector=detector, template=shipped, description="test",
        training_data="none", metrics={})
    installed = install_model(exported.path, tmp_path / "models")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "retrained-classifier.pt", "retrained-detector.pt", "retrained.manifest.json"]
    model = load_predictor(installed)
    assert model.detector is not None and model.name == "retrained"
    assert read_manifest(installed).extra["assign"] == shipped.extra["assign"]
    # the input contract is stated as the shipped model states it (only the crop size comes from the net)
    assert read_manifest(installed).input == shipped.input
