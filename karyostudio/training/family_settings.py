"""Reading a family's ``settings`` mapping (TrainConfig.settings) into its settings dataclass.

Every family's settings are a dataclass; ``read_settings`` builds it with the one typed
converter (karyostudio.core.typed_mapping), so an unknown or mistyped key is a ConfigError
that names it (``settings.sources[0].split must be one of ...``). The checks here are the
value rules that families share; each settings module adds its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence, TypeVar

from karyostudio.core.typed_mapping import from_mapping
from karyostudio.models.families import family_record
from karyostudio.training.config import AugmentConfig, DataConfig, SourceConfig, TrainConfig, check_source
from karyostudio.training.errors import ConfigError

S = TypeVar("S")


def read_settings(cls: type[S], data: Mapping[str, Any] | None) -> S:
    """``cls`` from a config's ``settings`` mapping (defaults for what it leaves out), checked by
    its ``check()`` (the value rules beyond the field types)."""
    settings = from_mapping(cls, data or {}, "settings", error=ConfigError)
    settings.check()
    return settings


def settings_for(config: TrainConfig) -> Any:
    """The checked settings of a config's family (the settings dataclass its record names)."""
    return read_settings(family_record(config.family).load("settings"), config.settings)


def check_sources(sources: Sequence[SourceConfig], *, check_val_fraction: bool = True) -> None:
    for k, source in enumerate(sources):
        check_source(source, f"settings.sources[{k}]", check_val_fraction=check_val_fraction)


def with_corrections(sources: Sequence[SourceConfig], labelme_dirs: Sequence[str]) -> list[SourceConfig]:
    """The configured sources plus one labelme source per corrections folder (all for training)."""
    return [*sources, *(SourceConfig(kind="labelme", path=d, val_fraction=0.0, split="random")
                        for d in labelme_dirs)]


def with_settings_data(config: TrainConfig, settings: Any, augment: AugmentConfig | None = None) -> TrainConfig:
    """``config`` with its data replaced by the settings' image sources and corrections folders
    (relative paths under settings.data_root, else data.root), for detection_data.build_sources."""
    data = DataConfig(root=settings.data_root or config.data.root,
                      mask_sources=with_corrections(settings.sources, settings.labelme_dirs),
                      augment=augment if augment is not None else AugmentConfig())
    return dataclasses.replace(config, data=data)


def describe_sources(sources: Sequence[SourceConfig]) -> str:
    """One line naming the image sources, for a manifest's training_data."""
    return "; ".join(f"{x.kind} {x.path or f'x{x.count} at {x.size} px (seed {x.seed})'}" for x in sources)


def require_at_least_one(settings: Any, names: Sequence[str]) -> None:
    """Each named setting that is set (not None) is at least 1."""
    for name in names:
        value = getattr(settings, name)
        if value is not None and value < 1:
            raise ConfigError(f"settings.{name} must be at least 1, got {value}")
