"""The one typed converter: mappings to settings dataclasses and back, errors that name the setting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from karyostudio.core.typed_mapping import SettingsError, from_mapping, to_mapping


@dataclass
class Source:
    kind: Literal["synth", "voc"] = "synth"
    path: str = ""
    count: int = 10


@dataclass
class Settings:
    lr: float = 0.1
    epochs: int = 2
    steps: int | None = None
    flip: bool = True
    size: tuple[int, int] = (64, 32)
    widths: tuple[int, ...] = (8, 16)
    sources: list[Source] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")


def test_a_mapping_becomes_typed_settings_and_round_trips():
    data = {"lr": 1, "steps": None, "size": [32, 16], "widths": [4, 8, 16],
            "sources": [{"kind": "voc", "path": "taichung"}], "extra": {"a": [1]}}
    settings = from_mapping(Settings, data)
    assert settings.lr == 1.0 and isinstance(settings.lr, float)
    assert settings.size == (32, 16) and settings.widths == (4, 8, 16)
    assert settings.sources == [Source(kind="voc", path="taichung")]
    assert from_mapping(Settings, to_mapping(settings)) == settings
    assert to_mapping(settings)["size"] == [32, 16]


@pytest.mark.parametrize("data, message", [
    ({"lr": 0.1, "epoch": 3}, r"unknown setting\(s\) in settings: epoch; known: lr, epochs"),
    ({"epochs": 2.5}, "settings.epochs must be an integer, got 2.5"),
    ({"epochs": True}, "settings.epochs must be an integer, got True"),
    ({"flip": "yes"}, "settings.flip must be true or false"),
    ({"lr": "fast"}, "settings.lr must be a number"),
    ({"size": [1, 2, 3]}, "settings.size must be a list of 2 values, got 3"),
    ({"widths": 8}, "settings.widths must be a list"),
    ({"sources": [{"kind": "coco"}]}, r"settings.sources\[0\].kind must be one of synth, voc; got 'coco'"),
    ({"sources": [{"path": 3}]}, r"settings.sources\[0\].path must be a string"),
    ({"sources": [{"cnt": 3}]}, r"unknown setting\(s\) in settings.sources\[0\]: cnt"),
    ({"extra": [1]}, "settings.extra must be a mapping"),
    ({"epochs": 0}, "settings: epochs must be at least 1, got 0"),
])
def test_a_setting_that_does_not_fit_is_named(data, message):
    with pytest.raises(SettingsError, match=message):
        from_mapping(Settings, data, "settings")


def test_the_caller_chooses_the_error_type():
    class MyError(ValueError):
        pass

    with pytest.raises(MyError, match="unknown setting"):
        from_mapping(Settings, {"bogus": 1}, error=MyError)
    with pytest.raises(MyError, match="must be a mapping"):
        from_mapping(Settings, [1, 2], error=MyError)
