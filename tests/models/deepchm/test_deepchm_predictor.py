"""DeepCHM export -> registry load -> predict: Instances with rotated boxes in image pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.models.registry import load_predictor
from karyostudio.models.deepchm.model import DeepCHM
from karyostudio.models.deepchm.image import prepare
from karyostudio.models.deepchm.predictor import boxes_to_image
from karyostudio.models.deepchm.spec import DeepCHMSpec
from karyostudio.models.deepchm.weights import DeepCHMWeightsError, export_model, read_weights

SPEC = DeepCHMSpec(backbone="resnet18", fpn_channels=16, head_channels=16, aspp_rates=(1, 2), input_size=64,
                   base_size=2.5, pre_nms_top_n=100, max_detections=20)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(threads)


def _confident_model() -> DeepCHM:
    """A model that sees skeleton everywhere and scores every anchor high, so the decoder runs."""
    torch.manual_seed(0)
    model = DeepCHM(SPEC)
    with torch.no_grad():
        model.net.saliency.bias.fill_(6.0)
        model.net.cls_head.out.bias.fill_(6.0)
    return model


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.full((96, 128), 210, dtype=np.uint8)
    image[30:70, 40:48] = 60  # one dark vertical bar
    return np.clip(image + rng.integers(0, 10, image.shape), 0, 255).astype(np.uint8)


def test_export_load_predict_gives_instances_with_rotated_boxes(tmp_path):
    model = _confident_model()
    manifest = export_model(tmp_path, "deepchm-tiny", model.state_dict(), SPEC, description="test model")
    assert manifest.family == "deepchm" and manifest.classes == []
    predictor = load_predictor(manifest.path)
    image = _image()
    instances = predictor.predict(image)
    assert 1 <= len(instances) <= SPEC.max_detections
    assert len({inst.id for inst in instances}) == len(instances)
    for inst in instances:
        box = inst.attributes["rotated_box"]
        assert len(box) == 5 and all(np.isfinite(box))
        assert inst.label is None and 0.0 <= inst.score <= 1.0 and inst.source == "deepchm-tiny"
        assert -20 <= box[0] <= 148 and -20 <= box[1] <= 116  # image pixels, not network pixels
    # The rotated boxes are the decoder's, mapped back from the 64 px network input.
    found, scale = predictor.detect(image)
    expected = boxes_to_image(found.boxes.numpy(), scale)
    assert np.allclose(sorted(inst.attributes["rotated_box"][0] for inst in instances),
                       sorted(expected[:, 0]), atol=1e-3)


def test_prepare_keeps_the_aspect_and_pads_to_32():
    tensor, scale = prepare(np.zeros((96, 128), dtype=np.uint8), 64)
    assert tuple(tensor.shape) == (1, 64, 64)  # 48 x 64, padded to 64 x 64
    assert scale == pytest.approx((0.5, 0.5))
    back = boxes_to_image(np.array([[10.0, 20.0, 4.0, 8.0, 30.0]]), scale)
    assert back.tolist() == [[20.0, 40.0, 8.0, 16.0, 30.0]]


def test_weights_round_trip_in_half_precision_and_reject_foreign_files(tmp_path):
    model = _confident_model()
    manifest = export_model(tmp_path, "m", model.state_dict(), SPEC)
    spec, state = read_weights(manifest.weights_path)
    assert spec == SPEC
    original = model.state_dict()["net.saliency.weight"]
    assert torch.allclose(state["net.saliency.weight"], original, atol=1e-3)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(DeepCHMWeightsError):
        read_weights(other)
