"""Exported weights (float16 + manifest) load through the registry into a Predictor that returns Instances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.core.instance import Instance
from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.models import registry
from karyostudio.models.base import Predictor
from karyostudio.models.maskrcnn import (
    FAMILY,
    MaskRCNNPredictor,
    build_maskrcnn,
    export_model,
    from_manifest,
    read_weights,
)
from karyostudio.models.maskrcnn.weights import WeightsFileError, load_model
from tests.models.test_maskrcnn_build import tiny_spec

torch.set_num_threads(1)


def confident_model(spec):
    """An untrained model rigged to call everything chromosome 3 with full masks (a known answer)."""
    torch.manual_seed(0)
    model = build_maskrcnn(spec)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[3] = 12.0
        model.roi_heads.mask_predictor.mask_fcn_logits.bias.fill_(8.0)
    return model


@pytest.fixture
def exported(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, FAMILY,
                        registry.ModelFamily(FAMILY, "karyostudio.models.maskrcnn.predictor:from_manifest"))
    spec = tiny_spec(detections_per_img=20)
    model = confident_model(spec)
    manifest = export_model(tmp_path, "mrcnn-tiny", model.state_dict(), spec, description="tiny test model",
                            metrics={"mask_data.mask_map50": 0.5}, extra={"score_threshold": 0.3})
    return manifest, model


def test_export_writes_half_precision_weights_that_load_with_weights_only(exported):
    manifest, model = exported
    data = torch.load(manifest.weights_path, weights_only=True)
    floats = [v for v in data["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    spec, state = read_weights(manifest.weights_path)
    assert spec == tiny_spec(detections_per_img=20)
    original = model.state_dict()
    assert set(state) == set(original)
    for key, value in state.items():
        assert value.dtype == original[key].dtype
        assert torch.allclose(value, original[key].float(), rtol=1e-2, atol=1e-3) if value.is_floating_point() \
            else torch.equal(value, original[key])
    assert manifest.family == FAMILY and manifest.input["channels"] == 1
    assert manifest.metrics == {"mask_data.mask_map50": 0.5}
    direct = MaskRCNNPredictor.from_weights(manifest.weights_path, name="direct", score_threshold=0.2)
    assert direct.spec == spec and direct.name == "direct" and direct.score_threshold == 0.2


def test_registry_loads_the_manifest_into_a_predictor_that_returns_instances(exported):
    manifest, _ = exported
    predictor = registry.load_predictor(manifest.path)
    assert isinstance(predictor, Predictor)
    assert predictor.name == "mrcnn-tiny" and predictor.score_threshold == 0.3
    image = np.full((150, 200), 200, dtype=np.uint8)
    image[40:110, 60:75] = 40
    calls = []
    out = predictor.predict(image, progress=lambda d, t, m="": calls.append((d, t)))
    assert out and all(isinstance(i, Instance) for i in out)
    assert all(i.label == "3" and i.score > 0.9 and i.source == "mrcnn-tiny" for i in out)
    for inst in out:  # outlines lie in the original 200 x 150 image, not the 96 px network input
        x0, y0, x1, y1 = inst.bbox
        assert 0 <= x0 < x1 <= 200 and 0 <= y0 < y1 <= 150
    assert max(i.bbox[2] for i in out) > 96 or max(i.bbox[3] for i in out) > 96
    assert calls[-1] == (3, 3)


def test_predict_reads_16_bit_images_and_honours_cancel(exported):
    manifest, _ = exported
    predictor = from_manifest(manifest)
    image16 = np.full((100, 100), 40000, dtype=np.uint16)
    image16[20:80, 40:50] = 9000
    assert all(isinstance(i, Instance) for i in predictor.predict(image16))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        predictor.predict(image16, cancel=token)


def test_damaged_or_foreign_weights_give_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsFileError, match="cannot read"):
        load_model(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(WeightsFileError, match="not a Mask R-CNN weights file"):
        load_model(foreign)
