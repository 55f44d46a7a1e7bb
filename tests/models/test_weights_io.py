"""WeightsFormat: the save / read / load / export steps every model family's weights files share."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pytest
import torch

from karyostudio.io.errors import FormatError
from karyostudio.models.manifest import read_manifest
from karyostudio.models.weights_io import WeightsFormat, save_torch_dict


class ToyWeightsError(FormatError):
    pass


class ToySpecError(ValueError):
    pass


@dataclass(frozen=True)
class ToySpec:
    width: int = 3

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ToySpec":
        if set(data) != {"width"} or int(data["width"]) < 1:
            raise ToySpecError(f"bad toy spec {data}")
        return cls(int(data["width"]))


def toy_model(spec: ToySpec) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(2, spec.width), torch.nn.BatchNorm1d(spec.width))


TOY = WeightsFormat(family="toy", name="karyostudio-toy-weights", kind="a toy", error=ToyWeightsError,
                    parse_spec=ToySpec.from_dict, spec_errors=(ToySpecError,), build=toy_model)


def test_round_trip_keeps_spec_and_values_within_float16(tmp_path) -> None:
    spec = ToySpec(4)
    model = toy_model(spec)
    path = TOY.save(tmp_path / "toy.pt", model.state_dict(), spec)
    stored = torch.load(path, weights_only=True)
    assert stored["format"] == "karyostudio-toy-weights" and stored["version"] == 1
    assert stored["state_dict"]["0.weight"].dtype == torch.float16
    assert stored["state_dict"]["1.num_batches_tracked"].dtype == torch.int64  # integers untouched

    loaded, loaded_spec = TOY.load_model(path)
    assert loaded_spec == spec and not loaded.training
    for key, value in model.state_dict().items():
        got = loaded.state_dict()[key]
        assert got.dtype == value.dtype
        assert torch.allclose(got.float(), value.float(), atol=1e-3, rtol=1e-3), key


def test_export_writes_weights_and_a_manifest_with_spec_and_input(tmp_path) -> None:
    spec = ToySpec(2)
    manifest = TOY.export(tmp_path, "toy-run", toy_model(spec).state_dict(), spec,
                          input={"channels": 1}, metrics={"ap": 0.5}, extra={"note": "x"},
                          description="a toy model")
    again = read_manifest(manifest.path)
    assert again.family == "toy" and again.name == "toy-run" and again.description == "a toy model"
    assert again.input == {"channels": 1} and again.metrics == {"ap": 0.5}
    assert again.extra == {"spec": {"width": 2}, "note": "x"}
    assert (tmp_path / "toy-run.pt").is_file()
    assert json.loads(manifest.path.read_text())["family"] == "toy"


@pytest.mark.parametrize("payload, message", [
    ({"format": "karyostudio-other-weights", "version": 1, "spec": {"width": 3}, "state_dict": {}},
     "not a toy weights file"),
    ({"format": "karyostudio-toy-weights", "version": 7, "spec": {"width": 3}, "state_dict": {}},
     "weights version 7 is not supported"),
    ({"format": "karyostudio-toy-weights", "version": 1, "spec": {"width": 0}, "state_dict": {}},
     "bad model spec"),
    ({"format": "karyostudio-toy-weights", "version": 1, "spec": [3], "state_dict": {}}, "bad model spec"),
    ({"format": "karyostudio-toy-weights", "version": 1, "state_dict": {}}, "bad model spec"),
    ({"format": "karyostudio-toy-weights", "version": 1, "spec": {"width": 3},
      "state_dict": {"0.weight": torch.zeros(5, 2)}}, "weights do not fit the model spec"),
])
def test_foreign_or_mismatched_files_raise_the_family_error(tmp_path, payload, message) -> None:
    path = save_torch_dict(tmp_path / "file.pt", payload)
    with pytest.raises(ToyWeightsError, match=message):
        TOY.load_model(path)


def test_missing_and_damaged_files_raise_the_family_error(tmp_path) -> None:
    with pytest.raises(ToyWeightsError, match="weights file not found"):
        TOY.read(tmp_path / "absent.pt")
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ToyWeightsError, match="cannot read weights"):
        TOY.read(damaged)
