"""Session and recovery files (no widgets)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from karyostudio.core.commands import AddInstances, SetLabel
from karyostudio.core.instance import Instance
from karyostudio.workspace.recovery import RESTORE_TEXT, list_recovery, restore_session, write_recovery
from karyostudio.workspace.session import Session
from karyostudio.io.errors import AnnotationReadError, FormatError, ImageReadError
from karyostudio.io.images import encode_image, write_image
from karyostudio.io.labelme import read_labelme

from tests.gui.helpers import square


def test_open_image_then_save_round_trip(image_file: Path, tmp_path: Path):
    session = Session.open(image_file)
    assert session.document.image_size == (200, 160)
    assert not session.dirty
    session.history.push(AddInstances([Instance(id=1, polygon=square(5, 5, 10), label="7")]))
    assert session.dirty
    assert session.default_save_path() == image_file.with_suffix(".json")
    saved = session.save()
    assert not session.dirty and saved == image_file.with_suffix(".json")

    reopened = Session.open(saved)
    assert reopened.image_path == image_file
    assert reopened.image is not None and np.array_equal(reopened.image, session.image)
    assert reopened.document.snapshot() == session.document.snapshot()


def test_16bit_tiff_keeps_its_depth(tmp_path: Path):
    image = (np.arange(120 * 90, dtype=np.uint32).reshape(90, 120) * 7 % 65536).astype(np.uint16)
    path = tmp_path / "deep.tif"
    write_image(path, image)
    session = Session.open(path)
    assert session.image.dtype == np.uint16
    assert np.array_equal(session.image, image)


def test_embedded_image_stays_embedded(tmp_path: Path):
    image = np.full((30, 40), 99, dtype=np.uint8)
    data = {"shapes": [{"label": "5", "points": square(1, 1, 5).tolist(), "shape_type": "polygon"}],
            "imagePath": "gone.png", "imageData": base64.b64encode(encode_image(image, ".png")).decode(),
            "imageHeight": 30, "imageWidth": 40, "flags": {"kept": True}}
    path = tmp_path / "embedded.json"
    path.write_text(json.dumps(data))
    session = Session.open(path)
    assert np.array_equal(session.image, image)
    session.history.push(SetLabel([1], "6"))
    session.save()
    written = json.loads(path.read_text())
    assert written["imageData"] and written["flags"] == {"kept": True}
    assert written["shapes"][0]["label"] == "6"


@pytest.mark.parametrize("name, content, error", [
    ("broken.png", b"\x89PNG\r\n\x1a\nnot really", ImageReadError),
    ("broken.json", b'{"shapes": [', AnnotationReadError),
    ("notes.txt", b"hello", FormatError),
])
def test_corrupt_files_raise_typed_errors(tmp_path: Path, name: str, content: bytes, error: type):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error):
        Session.open(path)


def test_recovery_restores_as_one_undo_step(image_file: Path, tmp_path: Path):
    session = Session.open(image_file)
    session.save(tmp_path / "cell.json")
    session.history.push(AddInstances([Instance(id=1, polygon=square(5, 5, 10), label="3")]))
    session.history.push(SetLabel([1], "4"))
    recovery = tmp_path / "recovery"
    write_recovery(session, recovery)

    [entry] = list_recovery(recovery)
    assert entry.source == (tmp_path / "cell.json").absolute() and entry.instance_count == 1
    restored = restore_session(entry)
    assert restored.document.snapshot() == session.document.snapshot()
    assert restored.annotation_path == (tmp_path / "cell.json").absolute()
    assert restored.dirty and restored.history.undo_text == RESTORE_TEXT
    assert restored.recovery_name == entry.path.name
    restored.history.undo()
    assert len(restored.document) == 0  # what was saved on disk
    assert "karyostudioRecovery" not in read_labelme(restored.save()).extra
