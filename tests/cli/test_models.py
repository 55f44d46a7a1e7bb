import json

import pytest

from karyostudio.cli import main
from karyostudio.models import registry
from karyostudio.models.manifest import manifest_for_weights, write_manifest


@pytest.fixture
def models_dir(isolated_models):
    registry.register_family("fake", lambda manifest, device: None)
    return isolated_models


def _install(folder, name, metrics):
    weights = folder / f"{name}.bin"
    weights.write_bytes(name.encode() * 50)
    write_manifest(manifest_for_weights(weights, name, "fake", metrics=metrics), folder / f"{name}.manifest.json")
    return weights


def test_table_shows_weights_checksums_and_metrics(models_dir, capsys):
    _install(models_dir, "good", {"accuracy": 0.9123, "map50": 0.5})
    _install(models_dir, "broken", {})
    (models_dir / "broken.bin").write_bytes(b"changed")
    _install(models_dir, "gone", {})
    (models_dir / "gone.bin").unlink()
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["name", "family", "weights", "sha256"]
    rows = {line.split()[0]: line.split() for line in lines[1:] if not line.startswith("!")}
    assert list(rows)[0] == "default-cpu"
    assert rows["default-cpu"][1:4] == ["classic", "missing", "-"]
    assert rows["good"][1:] == ["fake", "present", "ok", "accuracy=0.912", "map50=0.500"]
    assert rows["broken"][2:4] == ["present", "MISMATCH"]
    assert rows["gone"][2:4] == ["missing", "-"]
    assert any(line.startswith("! broken:") and "does not match" in line for line in lines)


def test_json_listing(models_dir, capsys):
    _install(models_dir, "good", {"accuracy": 0.9})
    assert main(["models", "--json"]) == 0
    entries = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["good"]["sha256"] == "ok" and entries["good"]["metrics"] == {"accuracy": 0.9}
    assert entries["default-cpu"]["weights"] == "missing" and entries["default-cpu"]["manifest"] is None


def test_unreadable_manifest_is_reported(models_dir, capsys):
    (models_dir / "bad.manifest.json").write_text("{oops")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "! bad:" in out and "cannot read manifest" in out
