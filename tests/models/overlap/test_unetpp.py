"""Region-guided UNet++: shapes, nested dense skips, deep supervision and foreground guidance."""

from __future__ import annotations

import pytest
import torch

from karyostudio.models.overlap.unetpp import UNetPPSpec, UNetPPSpecError, build_unetpp


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_unetpp(UNetPPSpec(base_channels=4, depth=4)).eval()


def test_outputs_have_the_input_size_and_one_crossing_head_per_skip_node(model):
    foreground, crossing = model(torch.randn(2, 1, 48, 40))
    assert foreground.shape == (2, 1, 48, 40)
    assert len(crossing) == 3  # X[0][1], X[0][2], X[0][3]
    assert all(c.shape == (2, 1, 48, 40) for c in crossing)
    fg, cross = model.probabilities(torch.randn(1, 1, 32, 32))
    assert fg.shape == cross.shape == (1, 32, 32)
    assert 0.0 <= float(cross.min()) and float(cross.max()) <= 1.0


def test_skip_nodes_are_nested_and_dense():
    spec = UNetPPSpec(base_channels=4, depth=4)
    net = build_unetpp(spec)
    w = spec.widths
    assert w == [4, 8, 16, 32]
    # X[i][j] reads X[i][0..j-1] (j * w[i] channels) and the upsampled X[i+1][j-1] (w[i+1]).
    for i, j in ((0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (2, 1)):
        assert net.nodes[f"x{i}_{j}"][0].in_channels == w[i] * j + w[i + 1]
    assert "x1_3" not in net.nodes and "x3_1" not in net.nodes


def test_crossing_heads_read_the_foreground_map(model):
    x = torch.randn(1, 1, 32, 32)
    _, before = model(x)
    changed = build_unetpp(model.spec).eval()
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.foreground_head[-1].bias += 3.0  # only the foreground branch changes
    _, after = changed(x)
    assert all(not torch.allclose(a, b) for a, b in zip(before, after))


def test_crossing_loss_does_not_train_the_foreground_head():
    net = build_unetpp(UNetPPSpec(base_channels=4, depth=3)).train()
    foreground, crossing = net(torch.randn(2, 1, 16, 16))
    sum(c.sum() for c in crossing).backward()
    assert all(p.grad is None or not p.grad.any() for p in net.foreground_head.parameters())
    assert net.nodes["x0_0"][0].weight.grad.abs().sum() > 0


def test_input_size_must_fit_the_poolings(model):
    with pytest.raises(ValueError, match="multiples of 8"):
        model(torch.randn(1, 1, 30, 32))
    with pytest.raises(ValueError):
        model(torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("kwargs", [{"base_channels": 1}, {"depth": 1}, {"depth": 9}, {"in_channels": 0}])
def test_bad_specs_are_rejected(kwargs):
    with pytest.raises(UNetPPSpecError):
        UNetPPSpec(**kwargs)


def test_spec_round_trips_and_rejects_unknown_keys():
    spec = UNetPPSpec(base_channels=6, depth=3)
    assert UNetPPSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(UNetPPSpecError, match="known"):
        UNetPPSpec.from_dict({"base_channels": 6, "width": 3})
