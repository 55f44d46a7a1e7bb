"""Shared test fixtures: paths to ../shared/data (skip cleanly when absent), offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KARYOSTUDIO_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set KARYOSTUDIO_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def taichung_dir(shared_data: Path) -> Path:
    path = shared_data / "taichung"
    if not (path / "annotations").is_dir():
        pytest.skip(f"Taichung data not found at {path}")
    return path


@pytest.fixture(scope="session")
def autokary_dir(shared_data: Path) -> Path:
    path = shared_data / "autokary2022_annotations"
    if not path.is_dir():
        pytest.skip(f"AutoKary2022 annotation samples not found at {path}")
    return path


@pytest.fixture
def isolated_models(tmp_path, monkeypatch) -> Path:
    """An empty, private models folder searched first; the user's and the repository's models are
    hidden, and the registry's tables are restored after the test."""
    from karyostudio.models import manifest as manifest_module
    from karyostudio.models import registry

    folder = tmp_path / "env-models"
    folder.mkdir()
    monkeypatch.setenv("KARYOSTUDIO_MODELS", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.setattr(manifest_module, "REPO_MODELS_DIR", tmp_path / "no-repo-models")
    monkeypatch.setattr(registry, "FAMILIES", dict(registry.FAMILIES))
    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    return folder
