"""Inputs that used to hang the default model: a debris field and a cell with 2,000 objects."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from karyostudio.core.progress import CancelToken, Cancelled
from karyostudio.models.classic.pipeline import ClassicPipeline
from karyostudio.models.registry import load_predictor

from tests.robustness.fields import crowded_cell, debris_field


@pytest.fixture(scope="module")
def default_model():
    return load_predictor("default-cpu")


@pytest.mark.slow
def test_a_debris_field_gives_no_metaphase_in_seconds(default_model):
    """About 900 specks and no metaphase: the default model names none of them (a handful of
    objects at most), and answers in seconds."""
    started = time.monotonic()
    instances = default_model.predict(debris_field())
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"{elapsed:.1f} s"
    assert sum(i.label is not None for i in instances) <= 5


@pytest.mark.slow
def test_the_classic_segmentation_names_900_specks_in_seconds(default_model):
    """The classic segmentation outlines every speck: the joint assignment then re-solved the
    matching once per object (a 900 x 20,000 matrix, 1,800 times) and never finished."""
    classic = ClassicPipeline(default_model.classifier, name="classic")
    started = time.monotonic()
    instances = classic.predict(debris_field())
    elapsed = time.monotonic() - started
    assert len(instances) > 500
    assert elapsed < 60, f"{elapsed:.1f} s"
    named = [i for i in instances if i.label is not None]
    assert named and all(0.0 <= i.score <= 1.0 for i in named)


@pytest.mark.slow
def test_a_cell_with_2000_objects_is_analysed_in_seconds(default_model):
    started = time.monotonic()
    instances = default_model.predict(crowded_cell())
    elapsed = time.monotonic() - started
    assert len(instances) > 1500
    assert elapsed < 120, f"{elapsed:.1f} s"


def test_a_torch_stage_without_cancel_checks_stops_within_a_second():
    """A network forward pass checks nothing; inside an interruptible block Cancel still ends it
    between two layers (the default model's classifier is such a stage)."""
    torch.manual_seed(0)
    layers = nn.Sequential(*[nn.Conv2d(8, 8, 3, padding=1) for _ in range(400)]).eval()
    x = torch.randn(1, 8, 256, 256)
    token = CancelToken()
    cancelled_at = []

    def cancel_once(module, inputs):
        if not cancelled_at:
            cancelled_at.append(time.monotonic())
            token.cancel()

    layers[3].register_forward_pre_hook(cancel_once)
    with torch.no_grad(), pytest.raises(Cancelled):
        with token.interruptible():
            # One pass takes about half a second on 2 cores, too close to the grace time on a fast
            # machine; many passes make the uninterrupted stage last far longer than any machine's grace.
            for _ in range(100):
                layers(x)
    assert time.monotonic() - cancelled_at[0] < 1.0
