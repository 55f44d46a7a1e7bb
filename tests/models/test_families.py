"""Every model family is declared once (models/families.py) and its parts are what the record says."""

from __future__ import annotations

import dataclasses

import pytest

from karyostudio.models import registry
from karyostudio.models.families import FAMILY_RECORDS, PREDICTOR, SPLITTER, family_record
from karyostudio.models.weights_io import WeightsFormat
from karyostudio.training.config import FAMILIES, preset_names, load_preset
from karyostudio.training.task import TrainingTask


@pytest.mark.parametrize("name", sorted(FAMILY_RECORDS))
def test_a_family_record_names_parts_that_exist_and_agree(name):
    record = family_record(name)
    task = record.load("task")
    assert issubclass(task, TrainingTask) and task.family == name
    if record.settings is not None:
        assert dataclasses.is_dataclass(record.load("settings"))
    if record.spec is not None:
        spec = record.load("spec")
        assert spec.from_dict(spec().to_dict()) == spec()
    weights = record.load("weights")
    if isinstance(weights, WeightsFormat):
        assert weights.family == name
    if record.role == PREDICTOR:
        assert callable(record.load("predictor")) and name in registry.FAMILIES
    else:
        assert record.role == SPLITTER and name in registry.SPLITTER_FAMILIES and name not in registry.FAMILIES


def test_registry_and_training_configs_read_the_same_families():
    assert set(FAMILIES) == set(FAMILY_RECORDS)
    assert {load_preset(p).family for p in preset_names()} == set(FAMILY_RECORDS)
    with pytest.raises(LookupError, match="unknown model family 'classifier'"):
        family_record("classifier")
