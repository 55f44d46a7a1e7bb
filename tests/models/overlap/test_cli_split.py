"""`karyostudio predict --split-clusters` and how the registry shows splitters."""

from __future__ import annotations

import pytest

from karyostudio.cli import main
from karyostudio.io.images import write_image
from karyostudio.io.labelme import read_labelme
from karyostudio.models import manifest as manifest_module
from karyostudio.models import registry
from karyostudio.models.manifest import ManifestError, manifest_for_weights, write_manifest
from karyostudio.models.overlap import segmenter as segmenter_module
from karyostudio.models.overlap import stage
from tests.models.overlap.scenes import FixedPredictor, ThresholdSegmenter, bar, outline, render
from tests.models.overlap.test_stage import PreferenceClassifier

SHAPE = (200, 240)


@pytest.fixture
def isolated_models(tmp_path, monkeypatch):
    """Empty model folders, plus a registered predictor "fixed" returning one X cluster."""
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("KARYOSTUDIO_MODELS", str(models))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.setattr(manifest_module, "REPO_MODELS_DIR", tmp_path / "no-repo-models")
    monkeypatch.setattr(registry, "FAMILIES", dict(registry.FAMILIES))
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    bars = [bar(SHAPE, (30, 100), (210, 100), 14), bar(SHAPE, (60, 20), (180, 180), 14)]
    image = render(SHAPE, bars)
    write_image(tmp_path / "cell.png", image)
    cluster = outline(bars[0] | bars[1], 1, source="fixed", attributes={"cluster": True})
    registry.register_family("fixed", lambda manifest, device: FixedPredictor([cluster]), needs_weights=False)
    registry.register_model("fixed", "fixed", "one cluster")
    return models


def test_predict_with_split_clusters_writes_named_pieces(tmp_path, isolated_models, monkeypatch):
    loaded = []
    monkeypatch.setattr(segmenter_module, "load_splitter_model",
                        lambda name, device="cpu": loaded.append(name) or ThresholdSegmenter())
    monkeypatch.setattr(stage, "load_default_classifier", lambda device="cpu": PreferenceClassifier())
    out = tmp_path / "out"
    rc = main(["predict", str(tmp_path / "cell.png"), "--out", str(out), "--model", "fixed", "--no-karyogram",
               "--split-clusters"])
    assert rc == 0 and loaded == ["chromseg-cpu"]
    instances = read_labelme(out / "cell.json").instances
    assert len(instances) == 2 and all(i.label == "7" for i in instances)
    assert all(i.attributes.get("split_from") == 1 for i in instances)

    main(["predict", str(tmp_path / "cell.png"), "--out", str(out), "--model", "fixed", "--split-clusters",
          "my-splitter"])
    assert loaded[-1] == "my-splitter"


def test_unknown_splitter_is_a_usage_error(tmp_path, isolated_models, capsys):
    rc = main(["predict", str(tmp_path / "cell.png"), "--out", str(tmp_path / "o"), "--model", "fixed",
               "--split-clusters", "nope"])
    assert rc == 2 and "cannot load splitter 'nope'" in capsys.readouterr().err


def test_splitters_are_listed_apart_from_predictors(isolated_models):
    weights = isolated_models / "split-test.pt"
    weights.write_bytes(b"not used")
    write_manifest(manifest_for_weights(weights, "split-test", "chromseg", classes=[]),
                   isolated_models / "split-test.manifest.json")
    assert "split-test" not in [m.name for m in registry.available_models()]
    assert [m.name for m in registry.available_splitters()] == ["split-test"]
    with pytest.raises(ManifestError, match="cluster splitter"):
        registry.load_predictor("split-test")
