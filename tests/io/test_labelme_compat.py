"""Files we write load in labelme itself (run in its own interpreter: labelme is no dependency of ours).

The interpreter is $KARYOSTUDIO_LABELME_PYTHON, else .venv-labelme/bin/python beside the
checkout's .venv. Create it with:
    python3 -m venv .venv-labelme && .venv-labelme/bin/pip install labelme==6.3.1
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from karyostudio.core.annotated_image import BOX_ONLY, ImageAnnotations
from karyostudio.core.instance import Instance
from karyostudio.io.images import write_image
from karyostudio.io.labelme import read_labelme, write_labelme

REPO_ROOT = Path(__file__).resolve().parents[2]

LOADER = """
import json, sys
import labelme
out = []
for filename in sys.argv[1:]:
    lf = labelme.LabelFile(filename)
    out.append({
        "image_path": lf.image_path,
        "image_bytes": len(lf.image_data or b""),
        "shapes": [{"label": s["label"], "points": s["points"], "shape_type": s["shape_type"],
                    "other_data": s["other_data"]} for s in lf.shapes],
    })
print(json.dumps(out))
"""


def labelme_python() -> str:
    candidates = [os.environ.get("KARYOSTUDIO_LABELME_PYTHON"), str(REPO_ROOT / ".venv-labelme" / "bin" / "python")]
    for candidate in candidates:
        if not candidate or not Path(candidate).is_file():
            continue
        probe = subprocess.run([candidate, "-c", "import labelme; labelme.LabelFile"], capture_output=True,
                               timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        if probe.returncode == 0:
            return candidate
    pytest.skip("no interpreter with labelme found (set KARYOSTUDIO_LABELME_PYTHON or create .venv-labelme: "
                "python3 -m venv .venv-labelme && .venv-labelme/bin/pip install labelme==6.3.1)")


def load_with_labelme(python: str, *files: Path) -> list[dict]:
    result = subprocess.run([python, "-c", LOADER, *map(str, files)], capture_output=True, text=True,
                            timeout=180, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_labelme_loads_our_files(tmp_path: Path) -> None:
    python = labelme_python()
    image = np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) % 251
    write_image(tmp_path / "images" / "cell.png", image.astype(np.uint8))
    ann = ImageAnnotations(key="cell", image_path=tmp_path / "images" / "cell.png", image_size=(64, 48), instances=[
        Instance(1, [[10.5, 10.0], [30.0, 12.25], [20.0, 40.0]], label="X", score=0.75, source="model-a",
                 attributes={"cluster": True}),
        Instance(2, [[2.0, 3.0], [12.0, 3.0], [12.0, 20.0], [2.0, 20.0]], label="13", attributes={BOX_ONLY: True}),
        Instance(3, [[40.0, 5.0], [60.0, 5.0], [50.0, 30.0]], label=None, reviewed=True),
    ])
    write_labelme(tmp_path / "json" / "cell.json", ann)
    embedded = ImageAnnotations(key="cell", image_size=(64, 48), instances=ann.instances[:1])
    write_labelme(tmp_path / "embedded.json", embedded,
                  image_data=(tmp_path / "images" / "cell.png").read_bytes())

    loaded, loaded_embedded = load_with_labelme(python, tmp_path / "json" / "cell.json", tmp_path / "embedded.json")

    assert loaded["image_path"] == "../images/cell.png" and loaded["image_bytes"] > 0
    polygon, box, unnamed = loaded["shapes"]
    assert (polygon["label"], polygon["shape_type"]) == ("X", "polygon")
    assert polygon["points"] == [[10.5, 10.0], [30.0, 12.25], [20.0, 40.0]]
    assert polygon["other_data"] == {"instance_id": 1, "score": 0.75, "source": "model-a", "reviewed": False,
                                     "attributes": {"cluster": True}}
    assert (box["label"], box["shape_type"], box["points"]) == ("13", "rectangle", [[2.0, 3.0], [12.0, 20.0]])
    assert unnamed["label"] == "unlabeled" and unnamed["other_data"]["reviewed"] is True
    assert loaded_embedded["image_bytes"] == (tmp_path / "images" / "cell.png").stat().st_size
    assert loaded_embedded["shapes"][0]["points"] == polygon["points"]
    # and what labelme loads, we load back identically
    assert read_labelme(tmp_path / "json" / "cell.json").instances == ann.instances
