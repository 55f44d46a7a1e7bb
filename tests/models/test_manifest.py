import json
from pathlib import Path

import pytest

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.models import manifest as manifest_module
from karyostudio.models.manifest import (
    Manifest,
    ManifestError,
    WeightsChecksumError,
    WeightsMissingError,
    find_manifests,
    manifest_for_weights,
    model_dirs,
    read_manifest,
    sha256_file,
    verify_weights,
    write_manifest,
)


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.pt"
    path.write_bytes(b"not really a network, but bytes to hash" * 10)
    return path


def test_round_trip_keeps_every_field(tmp_path, weights):
    m = manifest_for_weights(weights, "tiny", "classic", input={"crop": [64, 32]},
                             training_data="Taichung train split", metrics={"accuracy": 0.91},
                             description="a test model", extra={"epochs": 3})
    write_manifest(m, tmp_path / "tiny.manifest.json")
    back = read_manifest(tmp_path / "tiny.manifest.json")
    assert back == m
    assert back.path == (tmp_path / "tiny.manifest.json").resolve()
    assert back.weights_path == weights.resolve()
    assert back.classes == list(CLASS_NAMES)
    assert back.sha256 == sha256_file(weights)
    assert "path" not in json.loads((tmp_path / "tiny.manifest.json").read_text())


def test_unknown_keys_are_kept_in_extra_and_kind_means_family(tmp_path):
    path = tmp_path / "m.manifest.json"
    path.write_text(json.dumps({"name": "m", "kind": "classic", "weights": "m.pt", "sha256": "ab",
                                "future_field": [1, 2]}))
    m = read_manifest(path)
    assert m.family == "classic"
    assert m.extra == {"future_field": [1, 2]}


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "cannot read manifest"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"name": "m", "family": "classic", "weights": "m.pt"}), "sha256"),
    (json.dumps({"name": "m", "family": "classic", "weights": "m.pt", "sha256": "ab", "classes": ["1", "Z"]}),
     "unknown class names"),
])
def test_bad_manifests_raise_typed_errors(tmp_path, content, fragment):
    path = tmp_path / "bad.manifest.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=fragment) as info:
        read_manifest(path)
    assert str(path) in str(info.value)


def test_missing_manifest_file(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "absent.manifest.json")


def test_verify_weights_accepts_matching_file(tmp_path, weights):
    m = write_manifest(manifest_for_weights(weights, "tiny", "classic"), tmp_path / "tiny.manifest.json")
    assert verify_weights(m) == weights.resolve()


def test_verify_weights_rejects_missing_and_altered_files(tmp_path, weights):
    m = write_manifest(manifest_for_weights(weights, "tiny", "classic"), tmp_path / "tiny.manifest.json")
    weights.write_bytes(weights.read_bytes() + b"!")
    with pytest.raises(WeightsChecksumError, match="does not match"):
        verify_weights(m)
    weights.unlink()
    with pytest.raises(WeightsMissingError, match="not found"):
        verify_weights(m)


def test_search_order_env_then_user_then_repo(tmp_path, monkeypatch):
    env_a, env_b, data_home, repo = (tmp_path / n for n in ("a", "b", "data", "repo"))
    user = data_home / "karyostudio" / "models"
    for d in (env_a, env_b, user, repo):
        d.mkdir(parents=True)
    monkeypatch.setenv("KARYOSTUDIO_MODELS", f"{env_a}:{env_b}")
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    monkeypatch.setattr(manifest_module, "REPO_MODELS_DIR", repo)
    assert model_dirs() == [env_a, env_b, user, repo]

    def put(folder: Path, name: str) -> Path:
        path = folder / f"{name}.manifest.json"
        path.write_text(json.dumps({"name": name, "family": "x", "weights": "w", "sha256": "0"}))
        return path

    put(repo, "shared")
    user_shared = put(user, "shared")
    only_repo = put(repo, "repo-only")
    env_shared = put(env_b, "shared")
    found = find_manifests()
    assert found == {"shared": env_shared, "repo-only": only_repo}
    env_shared.unlink()
    assert find_manifests()["shared"] == user_shared


def test_weights_path_needs_a_location():
    with pytest.raises(ManifestError):
        Manifest(name="m", family="classic", weights="m.pt", sha256="0").weights_path
