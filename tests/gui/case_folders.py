"""Small case folders for the case tests: tiny images, some with labelme files beside them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from karyostudio.core.annotated_image import ImageAnnotations
from karyostudio.core.classes import AUTOSOMES
from karyostudio.core.instance import Instance
from karyostudio.io.images import write_image
from karyostudio.io.labelme import write_labelme

from tests.gui.helpers import square

NORMAL_FEMALE = [name for name in AUTOSOMES for _ in range(2)] + ["X", "X"]
TURNER = [name for name in AUTOSOMES for _ in range(2)] + ["X"]


def write_cell_image(folder: Path, name: str, shade: int = 40) -> Path:
    image = np.full((120, 160), 220, dtype=np.uint8)
    image[20:60, 20:60] = shade
    path = folder / f"{name}.png"
    write_image(path, image)
    return path


def write_cell_annotations(image_path: Path, labels: list[str | None], reviewed: bool) -> Path:
    instances = [Instance(id=i + 1, polygon=square(2 + (i % 10) * 15, 2 + (i // 10) * 15, 10), label=label,
                          reviewed=reviewed, source="test")
                 for i, label in enumerate(labels)]
    target = image_path.with_suffix(".json")
    write_labelme(target, ImageAnnotations(image_path.stem, instances, image_path, (160, 120)))
    return target


def make_case(folder: Path) -> Path:
    """cell1: not started; cell2: auto 46,XX; cell3: reviewed 46,XX; cell10: reviewed 45,X."""
    folder.mkdir(parents=True, exist_ok=True)
    write_cell_image(folder, "cell1")
    write_cell_annotations(write_cell_image(folder, "cell2"), NORMAL_FEMALE, reviewed=False)
    write_cell_annotations(write_cell_image(folder, "cell3"), NORMAL_FEMALE, reviewed=True)
    write_cell_annotations(write_cell_image(folder, "cell10"), TURNER, reviewed=True)
    return folder
