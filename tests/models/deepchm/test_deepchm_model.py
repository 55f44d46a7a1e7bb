"""The DeepCHM model: shapes, and each ablation switch changing exactly what it should."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import karyostudio.models.deepchm.model as deepchm_module
from karyostudio.models.deepchm.model import DeepCHM
from karyostudio.models.deepchm.spec import DeepCHMSpec, DeepCHMSpecError
from karyostudio.training.deepchm_targets import targets_from_boxes

TINY = dict(backbone="resnet18", fpn_channels=16, head_channels=16, aspp_rates=(1, 2), input_size=64,
            base_size=2.5)
BOXES = np.array([[20.0, 24.0, 6.0, 24.0, 30.0], [34.0, 30.0, 6.0, 26.0, 120.0], [48.0, 16.0, 5.0, 18.0, 0.0]])


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(threads)


def _model(**flags) -> DeepCHM:
    torch.manual_seed(0)
    return DeepCHM(DeepCHMSpec(**TINY, **flags))


def _targets() -> list[dict[str, torch.Tensor]]:
    found = targets_from_boxes(BOXES, (64, 64), 4)
    return [{"rboxes": torch.tensor(BOXES, dtype=torch.float32), "saliency": torch.from_numpy(found.maps),
             "crossing": torch.from_numpy(found.crossing), "bend": torch.full((3,), 1.5)}]


def _losses(model: DeepCHM, seed: int = 0) -> dict[str, torch.Tensor]:
    image = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(3))
    return model.losses(model(image), _targets(), torch.Generator().manual_seed(seed))


def test_output_shapes_and_input_check():
    model = _model()
    out = model(torch.rand(2, 1, 64, 96))
    assert out["saliency"].shape == (2, 3, 16, 24)
    assert out["cls"].shape == (2, 48, 16, 24)
    assert out["reg"].shape == (2, 240, 16, 24)
    with pytest.raises(ValueError):
        model(torch.rand(1, 1, 60, 64))


def test_pminf_feeds_the_saliency_map_to_the_heads():
    with_prior, without = _model(use_pminf=True), _model(use_pminf=False)
    assert with_prior.net.cls_head.fuse[0].in_channels == 16 + 3
    assert without.net.cls_head.fuse[0].in_channels == 16
    image = torch.rand(1, 1, 64, 64)
    for model, changes in ((with_prior, True), (without, False)):
        model.eval()
        before = model(image)["cls"].detach().clone()
        with torch.no_grad():
            model.net.saliency.bias += 3.0  # only the saliency output moves
        after = model(image)["cls"]
        assert (not torch.allclose(before, after)) == changes


def test_sgach_limits_anchors_to_the_skeleton():
    guided, dense = _losses(_model(use_sgach=True)), _losses(_model(use_sgach=False))
    on_skeleton = int((_targets()[0]["saliency"][0] >= 0.2).sum())
    assert float(guided["anchors"]) == on_skeleton * 48
    assert float(dense["anchors"]) == 16 * 16 * 48
    assert 0 < on_skeleton < 16 * 16


def test_negatives_are_twice_the_positives():
    losses = _losses(_model())
    assert float(losses["positives"]) >= 3  # at least each box's best anchor
    assert float(losses["negatives"]) == 2 * float(losses["positives"])


def test_hdlos_raises_the_weight_of_hard_positives():
    hard, plain = _losses(_model(use_hdlos=True)), _losses(_model(use_hdlos=False))
    # Same weights, anchors and sampled negatives: only omega >= 1 differs (bend 1.5 > 0 here).
    hard = {k: float(v.detach()) for k, v in hard.items()}
    plain = {k: float(v.detach()) for k, v in plain.items()}
    assert hard["loss_cls"] > plain["loss_cls"]
    assert hard["loss_reg"] > plain["loss_reg"] > 0
    assert hard["loss_saliency"] == pytest.approx(plain["loss_saliency"])


@pytest.mark.parametrize("flag", [True, False])
def test_dasmp_switches_the_sampler(monkeypatch, flag):
    seen = []
    original = deepchm_module.sample_negatives

    def recording(losses, k, *, adaptive, rho, generator=None):
        seen.append((adaptive, rho))
        return original(losses, k, adaptive=adaptive, rho=rho, generator=generator)

    monkeypatch.setattr(deepchm_module, "sample_negatives", recording)
    _losses(_model(use_dasmp=flag))
    assert seen == [(flag, 4.0)]


def test_losses_are_differentiable_and_total_uses_lambdas():
    model = _model()
    losses = _losses(model)
    total = model.total_loss(losses)
    expected = losses["loss_saliency"] + 2.0 * losses["loss_cls"] + 2.0 * losses["loss_reg"]
    assert float(total.detach()) == pytest.approx(float(expected.detach()))
    total.backward()
    assert model.net.reg_head.out.weight.grad is not None
    assert float(model.net.reg_head.out.weight.grad.abs().sum()) > 0


def test_detect_decodes_only_on_the_predicted_skeleton():
    model = _model()
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(1, 1, 64, 64))
    nothing = model.detect(out, score_threshold=0.0)[0]  # untrained skeleton ~0.01 < T_loc
    assert nothing.boxes.shape == (0, 5)
    out["saliency"][0, 0, 5, 5] = 10.0  # one skeleton cell
    found = model.detect(out, score_threshold=0.0)[0]
    assert 1 <= len(found.boxes) <= 48
    assert torch.allclose(found.boxes[:, :2].mean(0), torch.tensor([22.0, 22.0]), atol=6.0)
    assert bool((found.scores[:-1] >= found.scores[1:]).all())


def test_spec_round_trips_and_rejects_unknown_keys():
    spec = DeepCHMSpec(**TINY, use_hdlos=False)
    assert DeepCHMSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(DeepCHMSpecError, match="unknown"):
        DeepCHMSpec.from_dict({"use_hdloss": False})
    with pytest.raises(DeepCHMSpecError):
        DeepCHMSpec.from_dict({"use_sgach": "yes"})
