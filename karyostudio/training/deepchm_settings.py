"""DeepCHM trainer settings: the ``settings`` mapping of a family "deepchm" config, checked.

  model       DeepCHMSpec fields (models/rotated/deepchm_spec.py), e.g. backbone, input_size and
              the ablation switches use_pminf / use_sgach / use_hdlos / use_dasmp;
  sources     image collections (training/config.py SourceConfig fields: synth, labelme, voc);
  data_root   base folder of relative source paths (default: $KARYOSTUDIO_DATA or the working folder);
  augment     AugmentConfig fields (flips, quarter turns, small rotations, brightness/contrast);
  epochs, steps_per_epoch (default one pass over the training images), batch_size,
  lr (Adam, 1e-4), lr_decay (0.96) every decay_steps steps (default one epoch), grad_clip,
  log_every, max_val_images, val_score_floor (lowest score kept for AP and the best-F1 threshold),
  num_workers (data-loading processes).
The paper: Adam 1e-4 decaying by 0.96 every 518 iterations (one epoch), 120 epochs, batch 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from karyostudio.models.rotated.deepchm_spec import DeepCHMSpec, DeepCHMSpecError
from karyostudio.training.config import SOURCE_KINDS, AugmentConfig, ConfigError, SourceConfig


@dataclass
class DeepCHMSettings:
    model: DeepCHMSpec = field(default_factory=DeepCHMSpec)
    sources: list[SourceConfig] = field(default_factory=list)
    data_root: str = ""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 120
    steps_per_epoch: int | None = None
    batch_size: int = 1
    lr: float = 1e-4
    lr_decay: float = 0.96
    decay_steps: int | None = None
    grad_clip: float | None = 10.0
    log_every: int = 10
    max_val_images: int | None = 100
    val_score_floor: float = 0.05
    num_workers: int = 0  # data-loading processes (synthetic images and targets are CPU work)


_SCALARS = {"epochs": int, "steps_per_epoch": int, "batch_size": int, "lr": float, "lr_decay": float,
            "decay_steps": int, "grad_clip": float, "log_every": int, "max_val_images": int,
            "val_score_floor": float, "data_root": str, "num_workers": int}
_OPTIONAL = {"steps_per_epoch", "decay_steps", "grad_clip", "max_val_images"}


def parse_settings(data: Mapping[str, Any] | None) -> DeepCHMSettings:
    """Checked settings; ConfigError names unknown keys and bad values."""
    data = dict(data or {})
    known = [f.name for f in dataclasses.fields(DeepCHMSettings)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown deepchm setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
    values: dict[str, Any] = {}
    for key, kind in _SCALARS.items():
        if key in data:
            values[key] = _scalar(kind, data[key], key, optional=key in _OPTIONAL)
    try:
        values["model"] = DeepCHMSpec.from_dict(data.get("model") or {})
    except DeepCHMSpecError as exc:
        raise ConfigError(f"settings.model: {exc}") from None
    values["augment"] = _dataclass(AugmentConfig, data.get("augment") or {}, "settings.augment")
    sources = data.get("sources") or []
    if not isinstance(sources, list):
        raise ConfigError("settings.sources must be a list of image sources")
    values["sources"] = [_source(s, f"settings.sources[{k}]") for k, s in enumerate(sources)]
    settings = DeepCHMSettings(**values)
    _check(settings)
    return settings


def settings_to_dict(settings: DeepCHMSettings) -> dict[str, Any]:
    out = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    out["model"] = settings.model.to_dict()
    out["augment"] = dataclasses.asdict(settings.augment)
    out["sources"] = [dataclasses.asdict(s) for s in settings.sources]
    return out


def _check(s: DeepCHMSettings) -> None:
    if not s.sources:
        raise ConfigError("settings.sources: a DeepCHM run needs at least one image source")
    for name in ("epochs", "batch_size", "log_every"):
        if getattr(s, name) < 1:
            raise ConfigError(f"settings.{name} must be at least 1, got {getattr(s, name)}")
    for name in ("steps_per_epoch", "decay_steps", "max_val_images"):
        if getattr(s, name) is not None and getattr(s, name) < 1:
            raise ConfigError(f"settings.{name} must be at least 1, got {getattr(s, name)}")
    if s.num_workers < 0:
        raise ConfigError(f"settings.num_workers must be >= 0, got {s.num_workers}")
    if s.lr <= 0 or not 0 < s.lr_decay <= 1:
        raise ConfigError("settings.lr must be positive and settings.lr_decay in (0, 1]")
    if not 0 <= s.val_score_floor < 1:
        raise ConfigError("settings.val_score_floor must lie in [0, 1)")


def _source(data: Any, where: str) -> SourceConfig:
    source = _dataclass(SourceConfig, data, where)
    if source.kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}.kind must be one of {', '.join(SOURCE_KINDS)}; got {source.kind!r}")
    if source.kind != "synth" and not source.path:
        raise ConfigError(f"{where}: a {source.kind} source needs a path")
    if source.kind == "synth" and (source.count < 1 or source.val_count < 0):
        raise ConfigError(f"{where}: synth needs count >= 1 and val_count >= 0")
    if not 0.0 <= source.val_fraction < 1.0:
        raise ConfigError(f"{where}.val_fraction must lie in [0, 1), got {source.val_fraction}")
    return source


def _dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {data!r}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(unknown)}; known: {', '.join(known)}")
    try:
        return cls(**dict(data))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _scalar(kind: type, value: Any, key: str, *, optional: bool) -> Any:
    if value is None and optional:
        return None
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"settings.{key} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise ConfigError(f"settings.{key} must be a{'n integer' if kind is int else ' number'}, got {value!r}")
    return kind(value)
