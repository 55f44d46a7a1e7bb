"""Enhanced Rotated Mask R-CNN: losses, detections, weights files and the registry-loaded predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from karyostudio.metrics.detection import ROTATED_BOX
from karyostudio.models.registry import load_predictor
from karyostudio.models.ermrcnn.model import build_ermrcnn
from karyostudio.models.ermrcnn.heads import RBOX_WEIGHTS, xyxy_to_rotated
from karyostudio.models.ermrcnn.rpn import level_anchors, upright_xyxy
from karyostudio.models.ermrcnn.spec import ERMRCNNSpec, ERMRCNNSpecError
from karyostudio.models.ermrcnn.weights import ERMRCNNWeightsError, export_model, read_weights, save_weights
from karyostudio.models.rotated.geometry import encode
from karyostudio.training.detection_data import SynthSource
from karyostudio.training.rotated_data import RotatedDetectionDataset

TINY = dict(backbone="resnet18", input_size=128, fpn_channels=16, box_representation=32, mask_head_channels=16,
            endpoint_channels=8, rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=60,
            rpn_pre_nms_top_n_test=60, rpn_post_nms_top_n_test=40, box_batch_size_per_image=32,
            mask_batch_size_per_image=8, detections_per_img=20)


@pytest.fixture(scope="module")
def sample():
    torch.set_num_threads(1)
    return RotatedDetectionDataset(SynthSource(3, [0], 128), input_size=128)[0]


def test_training_forward_gives_every_loss_term_and_gradients(sample):
    torch.manual_seed(0)
    model = build_ermrcnn(ERMRCNNSpec(**TINY))
    image, target = sample
    losses = model([image], [target])
    assert set(losses) == {"loss_endpoint", "loss_objectness", "loss_rpn_box_reg", "loss_classifier",
                           "loss_rbox_reg", "loss_hbox_reg", "loss_mask"}
    assert all(torch.isfinite(v) and v >= 0 for v in losses.values())
    sum(losses.values()).backward()
    for part in (model.endpoints, model.rpn, model.roi_heads.box_predictor, model.roi_heads.mask_head):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


def test_ablations_and_box_only_targets_drop_their_terms(sample):
    torch.manual_seed(0)
    model = build_ermrcnn(ERMRCNNSpec(**TINY, horizontal_branch=False, endpoint_branch=False))
    image, target = sample
    box_only = {k: v for k, v in target.items() if k != "masks"}
    losses = model([image], [box_only])
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_rbox_reg"}
    assert model.endpoints is None and model.roi_heads.box_predictor.hbox is None


def test_eval_returns_canonical_rotated_detections_with_frame_masks(sample):
    torch.manual_seed(0)
    model = build_ermrcnn(ERMRCNNSpec(**TINY, box_score_thresh=0.0)).eval()
    out = model([sample[0]])[0]
    n = len(out["scores"])
    assert 0 < n <= 20
    assert out["rboxes"].shape == (n, 5) and out["masks"].shape == (n, 28, 28)
    assert torch.all(out["rboxes"][:, 3] >= out["rboxes"][:, 2])
    assert torch.all((out["rboxes"][:, 4] >= 0) & (out["rboxes"][:, 4] < 180))
    assert torch.all((out["labels"] >= 1) & (out["labels"] <= 24))
    assert out["endpoint_heatmap"].shape == (128, 128)
    assert torch.all(out["scores"][:-1] >= out["scores"][1:])


def test_rotated_box_regression_target_hand_computed():
    # Proposal upright 10 x 40 at (50, 50); ground truth shifted by (2, -4), 12 x 36, turned 10 degrees.
    proposal = torch.tensor([[50.0, 50.0, 10.0, 40.0, 0.0]])
    gt = torch.tensor([[52.0, 46.0, 12.0, 36.0, 10.0]])
    expected = torch.tensor([[10 * 2 / 10, 10 * -4 / 40, 5 * np.log(12 / 10), 5 * np.log(36 / 40),
                              5 * np.deg2rad(10.0)]], dtype=torch.float32)
    torch.testing.assert_close(encode(proposal, gt, RBOX_WEIGHTS), expected)


def test_anchors_are_canonical_upright_boxes():
    anchors = level_anchors(2, 3, 8, 16.0, (0.25, 1.0, 4.0), torch.device("cpu"))
    assert anchors.shape == (2 * 3 * 3, 5)
    assert set(anchors[:, 4].tolist()) <= {0.0, 90.0}
    xyxy = upright_xyxy(anchors)
    torch.testing.assert_close(xyxy[0], torch.tensor([4.0 - 16.0, 4.0 - 4.0, 4.0 + 16.0, 4.0 + 4.0]))
    torch.testing.assert_close(upright_xyxy(xyxy_to_rotated(xyxy)), xyxy)


def test_spec_and_weights_round_trip(tmp_path):
    spec = ERMRCNNSpec(**TINY)
    assert ERMRCNNSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ERMRCNNSpecError, match=r"unknown setting\(s\): \w+; known: backbone"):
        ERMRCNNSpec.from_dict({"bogus": 1})
    torch.manual_seed(0)
    model = build_ermrcnn(spec)
    path = save_weights(tmp_path / "w.pt", model.state_dict(), spec)
    spec2, state = read_weights(path)
    assert spec2 == spec
    for k, v in model.state_dict().items():
        torch.testing.assert_close(state[k], v.float() if v.is_floating_point() else v, atol=2e-3, rtol=2e-3)
    (tmp_path / "bad.pt").write_bytes(b"not a weights file")
    with pytest.raises(ERMRCNNWeightsError):
        read_weights(tmp_path / "bad.pt")


def test_exported_model_loads_through_the_registry_and_predicts_instances(tmp_path, sample):
    spec = ERMRCNNSpec(**TINY, box_score_thresh=0.0)
    torch.manual_seed(0)
    model = build_ermrcnn(spec)
    manifest = export_model(tmp_path, "ermrcnn-test", model.state_dict(), spec,
                            extra={"score_threshold": 0.0, "mask_threshold": 0.5})
    assert manifest.family == "rotated-maskrcnn"
    predictor = load_predictor(manifest.path)
    image = (sample[0][0].numpy() * 255).astype(np.uint8)
    big = np.kron(image, np.ones((2, 2), dtype=np.uint8))  # 256 px: predictions come back at this scale
    instances = predictor.predict(big)
    assert instances, "random weights with thresholds 0 still give masks"
    for k, inst in enumerate(instances):
        assert inst.id == k + 1 and inst.source == "ermrcnn-test"
        assert inst.polygon.shape[1] == 2 and len(inst.polygon) >= 3
        box = inst.attributes[ROTATED_BOX]
        assert len(box) == 5 and box[3] >= box[2]
        assert np.all(inst.polygon >= 0) and np.all(inst.polygon <= 256)
