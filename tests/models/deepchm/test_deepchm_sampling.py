"""Negative sampling: the 1:2 ratio and loss-weighted reservoir sampling (DASmp, Eq. 14)."""

from __future__ import annotations

import math

import pytest
import torch

from karyostudio.models.deepchm.sampling import (
    dasmp_weights,
    sample_count,
    sample_negatives,
    weighted_reservoir_sample,
)


def test_sample_count_keeps_one_to_two():
    assert sample_count(7, 1000, 2.0, 32) == 14
    assert sample_count(7, 10, 2.0, 32) == 10  # never more than there are
    assert sample_count(0, 1000, 2.0, 32) == 32  # no positive: a fixed number


def test_reservoir_sampling_draws_distinct_items_and_favours_heavy_ones():
    weights = torch.cat([torch.ones(50), torch.full((50,), 4.0)])
    generator = torch.Generator().manual_seed(0)
    heavy = 0
    for _ in range(400):
        picked = weighted_reservoir_sample(weights, 10, generator)
        assert len(picked) == 10 and len(set(picked.tolist())) == 10
        heavy += int((picked >= 50).sum())
    share = heavy / (400 * 10)
    # First draw picks a heavy item with p = 0.8; without replacement the share stays close to that.
    assert 0.7 < share < 0.85


def test_reservoir_sampling_rejects_non_positive_weights():
    with pytest.raises(ValueError):
        weighted_reservoir_sample(torch.tensor([1.0, 0.0]), 1)


def test_dasmp_weights_are_the_softmax_of_f_of_the_losses():
    losses = torch.tensor([0.0, 0.1, 1.0])
    f = [1 - math.exp(-4.0 * x) for x in (0.0, 0.1, 1.0)]
    z = sum(math.exp(v) for v in f)
    assert dasmp_weights(losses, 4.0).tolist() == pytest.approx([math.exp(v) / z for v in f], rel=1e-5)


def test_adaptive_sampling_prefers_hard_negatives_uniform_does_not():
    losses = torch.cat([torch.zeros(500), torch.full((500,), 2.0)])  # f: 0 vs ~1, weights 1 vs e
    generator = torch.Generator().manual_seed(1)
    hard_adaptive = sum(int((sample_negatives(losses, 20, adaptive=True, rho=4.0, generator=generator) >= 500).sum())
                        for _ in range(200))
    hard_uniform = sum(int((sample_negatives(losses, 20, adaptive=False, rho=4.0, generator=generator) >= 500).sum())
                       for _ in range(200))
    assert hard_adaptive / 4000 > 0.68  # e / (1 + e) = 0.73
    assert 0.45 < hard_uniform / 4000 < 0.55


def test_all_negatives_are_kept_when_fewer_than_asked():
    assert sample_negatives(torch.rand(5), 9, adaptive=True, rho=4.0).tolist() == [0, 1, 2, 3, 4]
