"""Checking a family trainer's ``settings`` mapping (TrainConfig.settings) into its settings dataclass.

The DeepCHM and Enhanced Rotated Mask R-CNN trainers take settings of the same make: scalar
options, a ``model`` spec, an ``augment`` mapping and a list of image ``sources``. The pieces
here turn each of those into checked values and raise ConfigError naming the offending key
(``settings.<key>``) for anything a run could not use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from karyostudio.training.config import AugmentConfig, ConfigError, SourceConfig, check_source


def parse_common(data: Mapping[str, Any], settings_cls: type, family: str, *, scalars: Mapping[str, type],
                 optional: set[str], spec_from_dict: Callable[[Mapping[str, Any]], Any],
                 spec_error: type[Exception], check_val_fraction: bool, sort_known: bool = False) -> dict[str, Any]:
    """The checked values of the settings every such family has: no unknown keys, the ``scalars``
    (``optional`` ones may be None), ``model`` (read by ``spec_from_dict``), ``augment`` and
    ``sources`` (see parse_source for ``check_val_fraction`` and parse_dataclass for ``sort_known``)."""
    reject_unknown(data, settings_cls, family)
    values = parse_scalars(data, scalars, optional)
    values["model"] = parse_model(data, spec_from_dict, spec_error)
    values["augment"] = parse_augment(data, sort_known=sort_known)
    values["sources"] = parse_sources(data, check_val_fraction=check_val_fraction, sort_known=sort_known)
    return values


def reject_unknown(data: Mapping[str, Any], settings_cls: type, family: str) -> None:
    """ConfigError for keys that are no field of ``settings_cls`` (known ones listed in field order)."""
    known = [f.name for f in dataclasses.fields(settings_cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown {family} setting(s): {', '.join(unknown)}; known: {', '.join(known)}")


def parse_scalars(data: Mapping[str, Any], kinds: Mapping[str, type], optional: set[str]) -> dict[str, Any]:
    """The given scalar settings, each checked against its kind (int, float or str); the
    ``optional`` ones may be None."""
    return {key: parse_scalar(kind, data[key], key, optional=key in optional)
            for key, kind in kinds.items() if key in data}


def parse_scalar(kind: type, value: Any, key: str, *, optional: bool) -> Any:
    """``value`` as ``kind``; bools are no numbers, and an int setting takes only whole numbers."""
    if value is None and optional:
        return None
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"settings.{key} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise ConfigError(f"settings.{key} must be a{'n integer' if kind is int else ' number'}, got {value!r}")
    return kind(value)


def parse_model(data: Mapping[str, Any], from_dict: Callable[[Mapping[str, Any]], Any],
                spec_error: type[Exception]) -> Any:
    """The ``model`` spec (defaults when absent); the spec's own errors become ConfigErrors."""
    try:
        return from_dict(data.get("model") or {})
    except spec_error as exc:
        raise ConfigError(f"settings.model: {exc}") from None


def parse_augment(data: Mapping[str, Any], *, sort_known: bool = False) -> AugmentConfig:
    """The ``augment`` mapping (defaults when absent)."""
    return parse_dataclass(AugmentConfig, data.get("augment") or {}, "settings.augment", sort_known=sort_known)


def parse_sources(data: Mapping[str, Any], *, check_val_fraction: bool, sort_known: bool = False
                  ) -> list[SourceConfig]:
    """The ``sources`` list, each source checked (see parse_source)."""
    sources = data.get("sources") or []
    if not isinstance(sources, list):
        raise ConfigError("settings.sources must be a list of image sources")
    return [parse_source(s, f"settings.sources[{k}]", check_val_fraction=check_val_fraction,
                         sort_known=sort_known) for k, s in enumerate(sources)]


def parse_source(data: Any, where: str, *, check_val_fraction: bool, sort_known: bool = False) -> SourceConfig:
    """One image source, checked as the Mask R-CNN configs check theirs (config.check_source)."""
    source = parse_dataclass(SourceConfig, data, where, sort_known=sort_known)
    check_source(source, where, check_val_fraction=check_val_fraction)
    return source


def parse_dataclass(cls: type, data: Any, where: str, *, sort_known: bool = False) -> Any:
    """``cls(**data)`` for a mapping of its fields; unknown keys are listed with the known ones
    (in field order, or sorted with ``sort_known``)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {data!r}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        listed = sorted(known) if sort_known else known
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(unknown)}; known: {', '.join(listed)}")
    try:
        return cls(**dict(data))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_labelme_dirs(data: Mapping[str, Any]) -> list[str]:
    """``labelme_dirs``: folders of reviewed labelme files (``train --corrections``), as a list of paths."""
    dirs = data.get("labelme_dirs") or []
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise ConfigError("settings.labelme_dirs must be a list of folder paths")
    return list(dirs)


def with_corrections(sources: list[SourceConfig], labelme_dirs: list[str]) -> list[SourceConfig]:
    """The configured sources plus one labelme source per corrections folder (all for training)."""
    return [*sources, *(SourceConfig(kind="labelme", path=d, val_fraction=0.0, split="random")
                        for d in labelme_dirs)]


def require_at_least_one(settings: Any, names: tuple[str, ...]) -> None:
    """Each named setting that is set (not None) is at least 1."""
    for name in names:
        value = getattr(settings, name)
        if value is not None and value < 1:
            raise ConfigError(f"settings.{name} must be at least 1, got {value}")


def common_settings_dict(settings: Any) -> dict[str, Any]:
    """Settings as plain data: every field, with model, augment and sources turned into mappings."""
    out = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    out["model"] = settings.model.to_dict()
    out["augment"] = dataclasses.asdict(settings.augment)
    out["sources"] = [dataclasses.asdict(s) for s in settings.sources]
    return out
