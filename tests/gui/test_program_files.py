"""The program's own files are never written: the bundled sample is saved elsewhere, training runs
go to the user's data folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from karyostudio.core.commands import AddInstances
from karyostudio.core.instance import Instance
from karyostudio.gui.app import SAMPLES_DIR
from karyostudio.gui.program_files import PROGRAM_ROOT, is_shipped, user_training_dir


def _shipped_files() -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in SAMPLES_DIR.iterdir()}


def test_saving_the_bundled_sample_asks_for_a_folder_of_the_users(window, tmp_path, monkeypatch, messages):
    monkeypatch.setenv("KARYOSTUDIO_DOCUMENTS", str(tmp_path / "documents"))
    sample = SAMPLES_DIR / "sample_metaphase.png"
    before = _shipped_files()
    assert window.files.open_path(sample)
    window.session.history.push(AddInstances([Instance(1, [[5, 5], [30, 5], [30, 40]], label="1")]))
    asked = []

    def fake_save(parent, title, start, filters):
        asked.append(start)
        return str(tmp_path / "documents" / "mine.json"), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_save))
    assert window.files.save()
    assert asked and not is_shipped(Path(asked[0])) and Path(asked[0]).parent == tmp_path / "documents"
    assert (tmp_path / "documents" / "mine.json").is_file()
    assert _shipped_files() == before  # nothing beside the sample was written or replaced
    assert not window.files.save_to(SAMPLES_DIR / "sample_metaphase.json")  # refused outright
    assert messages.warnings and "belongs to the program" in messages.warnings[-1]
    assert _shipped_files() == before


def test_a_shipped_annotation_file_is_saved_as_a_new_file(window, tmp_path, monkeypatch):
    monkeypatch.setenv("KARYOSTUDIO_DOCUMENTS", str(tmp_path / "documents"))
    shipped = SAMPLES_DIR / "sample_metaphase.json"
    if not shipped.is_file():
        return
    before = _shipped_files()
    assert window.files.open_path(shipped)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: ("", "")))  # the user cancels
    assert not window.files.save()
    assert _shipped_files() == before


def test_shipped_paths():
    assert is_shipped(SAMPLES_DIR / "anything.json") and is_shipped(PROGRAM_ROOT / "models" / "x.pt")
    assert not is_shipped(PROGRAM_ROOT.parent / "elsewhere.json") and not is_shipped(None)
    assert not is_shipped(user_training_dir())
