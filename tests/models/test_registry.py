import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from karyostudio.core.instance import Instance
from karyostudio.geometry.polygons import box_to_polygon
from karyostudio.models import registry
from karyostudio.models.base import Predictor, prediction_karyotype
from karyostudio.models.manifest import (
    ManifestError,
    WeightsChecksumError,
    WeightsMissingError,
    manifest_for_weights,
    write_manifest,
)
from karyostudio.models.registry import (
    DEFAULT_MODEL,
    DeviceUnavailableError,
    UnknownModelError,
    available_models,
    load_predictor,
    register_family,
    register_model,
    resolve_device,
)


class FakePredictor:
    description = "returns one box"

    def __init__(self, manifest, device):
        self.name = manifest.name if manifest is not None else "fake"
        self.manifest = manifest
        self.device = device

    def predict(self, image, *, progress=None, cancel=None):
        return [Instance(1, box_to_polygon((0, 0, 2, 4)), label="1", score=0.5, source=self.name)]


@pytest.fixture
def models_dir(isolated_models) -> Path:
    return isolated_models


def _install(folder: Path, name: str, family: str = "fake") -> Path:
    weights = folder / f"{name}-weights.bin"
    weights.write_bytes(name.encode() * 100)
    m = manifest_for_weights(weights, name, family, metrics={"accuracy": 0.75})
    write_manifest(m, folder / f"{name}.manifest.json")
    return weights


def test_default_model_is_listed_first_even_when_not_installed(models_dir):
    register_family("fake", FakePredictor)
    _install(models_dir, "aaa")
    infos = available_models()
    assert [i.name for i in infos] == [DEFAULT_MODEL, "aaa"]
    default = infos[0]
    assert default.family == "classic" and default.manifest_path is None and not default.weights_present
    assert infos[1].weights_present and infos[1].family == "fake"


def test_default_model_without_weights_gives_a_clear_error(models_dir):
    with pytest.raises(WeightsMissingError, match="not installed"):
        load_predictor(DEFAULT_MODEL)


def test_load_by_name_manifest_path_and_weights_path(models_dir):
    register_family("fake", FakePredictor)
    weights = _install(models_dir, "mine")
    for handle in ("mine", models_dir / "mine.manifest.json", str(weights)):
        predictor = load_predictor(handle, device="cpu")
        assert isinstance(predictor, FakePredictor)
        assert predictor.manifest.name == "mine" and predictor.device == "cpu"
    assert isinstance(predictor, Predictor)


def test_weights_without_a_manifest_beside_them(tmp_path, models_dir):
    stray = tmp_path / "stray.pt"
    stray.write_bytes(b"x")
    with pytest.raises(ManifestError, match="no manifest"):
        load_predictor(stray)
    with pytest.raises(WeightsMissingError):
        load_predictor(tmp_path / "absent.pt")


def test_altered_weights_are_refused(models_dir):
    register_family("fake", FakePredictor)
    weights = _install(models_dir, "mine")
    weights.write_bytes(b"tampered")
    with pytest.raises(WeightsChecksumError):
        load_predictor("mine")


def test_unknown_model_lists_the_available_ones(models_dir):
    register_family("fake", FakePredictor)
    _install(models_dir, "mine")
    with pytest.raises(UnknownModelError) as info:
        load_predictor("nonexistent")
    assert DEFAULT_MODEL in str(info.value) and "mine" in str(info.value)


def test_manifest_of_unknown_family(models_dir):
    _install(models_dir, "alien", family="no-such-family")
    with pytest.raises(ManifestError, match="no-such-family"):
        load_predictor("alien")


def test_family_without_weights_is_registered_by_name(models_dir):
    register_family("fake", FakePredictor, needs_weights=False)
    register_model("fake-model", "fake", "test predictor")
    info = next(i for i in available_models() if i.name == "fake-model")
    assert info.weights_present and info.description == "test predictor"
    predictor = load_predictor("fake-model")
    assert predictor.manifest is None
    assert predictor.predict(np.zeros((4, 4), np.uint8))[0].label == "1"


def test_register_model_needs_a_known_family(models_dir):
    with pytest.raises(KeyError):
        register_model("x", "no-such-family")


def test_devices():
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(DeviceUnavailableError, match="unknown device"):
        resolve_device("tpu")


def test_cuda_without_a_gpu_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceUnavailableError, match="CUDA is not available"):
        resolve_device("cuda")


def test_listing_models_does_not_import_torch():
    code = ("import sys; from karyostudio.models.registry import available_models; available_models(); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_prediction_karyotype_leaves_clusters_out():
    square = box_to_polygon((0, 0, 1, 1))
    labels = [str(i) for i in range(1, 23)] * 2 + ["X", "Y"]
    instances = [Instance(i, square, label=lab) for i, lab in enumerate(labels)]
    assert prediction_karyotype(instances) == "46,XY"
    cluster = Instance(99, square, attributes={"cluster": True})
    unnamed = Instance(100, square)
    assert prediction_karyotype(instances + [cluster]) == "46,XY"
    assert prediction_karyotype(instances + [unnamed]) == "47,XY,+mar"


def test_installed_manifest_decides_the_family_of_a_registered_name(models_dir):
    register_family("fake", FakePredictor)
    _install(models_dir, DEFAULT_MODEL, family="fake")
    assert available_models()[0].family == "fake"
    assert isinstance(load_predictor(DEFAULT_MODEL), FakePredictor)
